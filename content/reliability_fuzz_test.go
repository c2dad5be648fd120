package content

import (
	"bytes"
	"context"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Reliability check 10 (issue 9): Links decodes the DAG blocks a device
// fetches from peers (they verify against their CID, but the supplier's
// DAG, or a rotten store, can hold any bytes); it never panics.
func FuzzReliabilityLinks(f *testing.F) {
	bs := memBlockstore()
	imp, err := Import(context.Background(), DAGService(bs), bytes.NewReader(bytes.Repeat([]byte("firmware"), 40<<10)), 64<<10)
	if err != nil {
		f.Fatal(err)
	}
	root, err := bs.Get(context.Background(), imp.Root)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(root.RawData())
	f.Add([]byte{0x12, 0x00})
	f.Add([]byte{})
	pref := cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := pref.Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := blocks.NewBlockWithCid(data, c)
		if err != nil {
			t.Fatal(err)
		}
		links, err := Links(b)
		if err == nil && len(links) > len(data) {
			t.Fatalf("%d links from %d bytes", len(links), len(data))
		}
	})
}
