package hostile

import (
	"context"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// CorruptLeaves serves every data (raw leaf) block it holds with its first
// byte flipped, and the DAG's inner nodes intact: a device learns every leaf
// it needs from such a peer and asks it for all of them.
type CorruptLeaves struct{ blockstore.Blockstore }

// Get returns the block, corrupted if it is a leaf.
func (c CorruptLeaves) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	b, err := c.Blockstore.Get(ctx, k)
	if err != nil || k.Type() != cid.Raw {
		return b, err
	}
	bad := append([]byte(nil), b.RawData()...)
	bad[0] ^= 0xff
	return blocks.NewBlockWithCid(bad, k)
}
