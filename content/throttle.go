package content

import (
	"context"
	"time"

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
	return &Throttled{Blockstore: bs, lim: NewRateLimiter(bytesPerSec)}
}

// NewRateLimiter returns a limiter for bytesPerSec with a small burst (a
// twentieth of a second, at least 16 KiB) that starts empty, so the rate
// holds from the first byte and an idle period banks almost nothing. Use
// WaitBytes with it: blocks larger than the burst are paid for in pieces.
func NewRateLimiter(bytesPerSec int64) *rate.Limiter {
	burst := int(max(bytesPerSec/20, 16<<10))
	lim := rate.NewLimiter(rate.Limit(bytesPerSec), burst)
	lim.AllowN(time.Now(), burst) // start empty
	return lim
}

// WaitBytes waits until lim allows n bytes, in pieces of at most its burst.
func WaitBytes(ctx context.Context, lim *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Get waits for the limiter, then reads.
func (t *Throttled) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := t.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := WaitBytes(ctx, t.lim, len(b.RawData())); err != nil {
		return nil, err
	}
	return b, nil
}

// GetInto reads into buf (see content.GetInto), then waits for the
// limiter.
func (t *Throttled) GetInto(ctx context.Context, c cid.Cid, buf []byte) ([]byte, bool, error) {
	data, owned, err := GetInto(ctx, t.Blockstore, c, buf)
	if err != nil {
		return nil, false, err
	}
	if err := WaitBytes(ctx, t.lim, len(data)); err != nil {
		return nil, false, err
	}
	return data, owned, nil
}
