package stack

import (
	"os"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// TestReliabilityStackDelay (reliability check 9e): 100 real nodes in the
// stack simulator with 50 ms ± 5 ms one-way latency on every link (what the
// kernel here cannot do without netem). Every device must converge on the
// advisory and the verified release; the figures go next to the 10 ms run.
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
	b, d := runStack(t, base), runStack(t, slow)
	t.Logf("reliability: devices=100 latency_ms=50 jitter_ms=5 advisory_delivered=%.2f advisory_max_s=%.3f (10ms: %.3f) patch_completed=%.2f patch_max_s=%.2f (10ms: %.2f) bad_stored=%d",
		d.Advisory.DeliveredFraction, d.Advisory.MaxS, b.Advisory.MaxS, d.Patch.CompletedFraction, d.Patch.MaxS, b.Patch.MaxS, d.Attacks.BadBlocksStored)
	if d.Advisory.DeliveredFraction != 1 || d.Patch.CompletedFraction != 1 {
		t.Fatalf("with 50 ms ± 5 ms: advisory delivered to %.2f, patch completed on %.2f of the devices; want all", d.Advisory.DeliveredFraction, d.Patch.CompletedFraction)
	}
	if d.Advisory.MaxS <= b.Advisory.MaxS {
		t.Errorf("the advisory was no slower with 50 ms latency (%.3f s) than with 10 ms (%.3f s): the delay was not applied", d.Advisory.MaxS, b.Advisory.MaxS)
	}
}
