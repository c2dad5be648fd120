package node

import (
	"log/slog"
	"testing"
	"time"

	bsmsg "github.com/ipfs/boxo/bitswap/message"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// TestLateBlocksOfEndedFetchNotCharged: a block of a fetch that ended a
// moment ago (a delta given up for the full file) may still arrive and is
// not held against the honest peer that sends it; a minute later, while
// another fetch runs, the same block counts as unwanted.
func TestLateBlocksOfEndedFetchNotCharged(t *testing.T) {
	clk := time.Unix(1000, 0)
	n := &Node{fetches: map[string]*fetchTrack{}, now: func() time.Time { return clk }, log: slog.New(slog.DiscardHandler)}
	blk := blocks.NewBlock([]byte("a delta block"))
	delta := n.trackFetch("plc-fw@2.0.0", nil)
	delta.hold([]cid.Cid{blk.Cid()}, []cid.Cid{blk.Cid()})
	n.untrackFetch("plc-fw@2.0.0", delta)
	n.trackFetch("plc-fw@2.0.0", nil) // the full file, now running
	msg := bsmsg.New(false)
	msg.AddBlock(blk)
	refetchTracer{n}.MessageReceived("peer", msg)
	if got := n.counters.UnwantedBlocks; got != 0 {
		t.Fatalf("a late block of a fetch that ended 0 s ago was charged (%d unwanted)", got)
	}
	clk = clk.Add(2 * endedGrace)
	refetchTracer{n}.MessageReceived("peer", msg)
	if got := n.counters.UnwantedBlocks; got != 1 {
		t.Fatalf("after the grace the same block should count as unwanted; got %d", got)
	}
}
