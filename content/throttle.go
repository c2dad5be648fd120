package content

import (
	"context"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"golang.org/x/time/rate"
)

// Throttled caps how fast blocks are read out of a blockstore. Handed to the
// bitswap server, it caps the node's upload: the server reads a block right
// before it sends it. A nil limiter means no cap.
type Throttled struct {
	blockstore.Blockstore
	lim *rate.Limiter
}

// NewThrottled caps reads from bs at bytesPerSec (0 = unlimited).
func NewThrottled(bs blockstore.Blockstore, bytesPerSec int64) blockstore.Blockstore {
	if bytesPerSec <= 0 {
		return bs
	}
	burst := int(bytesPerSec)
	if burst < MaxChunkSize {
		burst = MaxChunkSize
	}
	return &Throttled{Blockstore: bs, lim: rate.NewLimiter(rate.Limit(bytesPerSec), burst)}
}

// Get waits for the limiter, then reads.
func (t *Throttled) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := t.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := t.lim.WaitN(ctx, len(b.RawData())); err != nil {
		return nil, err
	}
	return b, nil
}
