package stack

import (
	"os"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// TestReliabilityStackDelay (reliability check 9e): 100 real nodes in the
// stack simulator with 50 ms ± 5 ms one-way latency on every link (what the
// kernel here cannot do without netem), once as it is and once cut into two
// halves for the first 8 s after the advisory goes out. Every device must
// converge on the advisory and the verified release; the figures go next to
// the 10 ms run.
// Runs under `make reliability` (TOCSIN_RELIABILITY=1).
func TestReliabilityStackDelay(t *testing.T) {
	if os.Getenv("TOCSIN_RELIABILITY") == "" {
		t.Skip("reliability suite only: run `make reliability` (or set TOCSIN_RELIABILITY=1)")
	}
	base := small(100)
	slow := small(100)
	for _, l := range []*scenario.Link{&slow.Links.Seed, &slow.Links.Gateway, &slow.Links.Controller} {
		l.Latency, l.Jitter = scenario.Duration(50*time.Millisecond), scenario.Duration(5*time.Millisecond)
	}
	cut := slow
	cut.Partitions = []scenario.Outage{{Start: 0, Duration: scenario.Duration(8 * time.Second)}}
	b, d, p := runStack(t, base), runStack(t, slow), runStack(t, cut)
	t.Logf("reliability: devices=100 latency_ms=50 jitter_ms=5 advisory_delivered=%.2f advisory_max_s=%.3f (10ms: %.3f) patch_completed=%.2f patch_max_s=%.2f (10ms: %.2f) bad_stored=%d",
		d.Advisory.DeliveredFraction, d.Advisory.MaxS, b.Advisory.MaxS, d.Patch.CompletedFraction, d.Patch.MaxS, b.Patch.MaxS, d.Attacks.BadBlocksStored)
	if d.Advisory.DeliveredFraction != 1 || d.Patch.CompletedFraction != 1 {
		t.Fatalf("with 50 ms ± 5 ms: advisory delivered to %.2f, patch completed on %.2f of the devices; want all", d.Advisory.DeliveredFraction, d.Patch.CompletedFraction)
	}
	t.Logf("reliability: devices=100 latency_ms=50 jitter_ms=5 partition_s=8 advisory_delivered=%.2f advisory_max_s=%.3f patch_completed=%.2f patch_max_s=%.2f",
		p.Advisory.DeliveredFraction, p.Advisory.MaxS, p.Patch.CompletedFraction, p.Patch.MaxS)
	if p.Advisory.DeliveredFraction != 1 || p.Patch.CompletedFraction != 1 {
		t.Fatalf("after an 8 s partition healed: advisory delivered to %.2f, patch completed on %.2f of the devices; want all", p.Advisory.DeliveredFraction, p.Patch.CompletedFraction)
	}
	if p.Advisory.MaxS < 8 {
		t.Errorf("the cut-off half got the advisory after %.3f s, before the partition healed at 8 s: the partition was not applied", p.Advisory.MaxS)
	}
	if d.Advisory.MaxS <= b.Advisory.MaxS {
		t.Errorf("the advisory was no slower with 50 ms latency (%.3f s) than with 10 ms (%.3f s): the delay was not applied", d.Advisory.MaxS, b.Advisory.MaxS)
	}
}
