package stack

import (
	"os"
	"strconv"
	"testing"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// TestStackScale runs TOCSIN_SIM_N devices (advisory only unless
// TOCSIN_SIM_PATCH gives a size, TOCSIN_SIM_CHUNK its chunk) and logs the figures: for profiling the
// engine with -cpuprofile. Skipped without TOCSIN_SIM_N.
func TestStackScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TOCSIN_SIM_N"))
	if n == 0 {
		t.Skip("set TOCSIN_SIM_N to run")
	}
	s := small(n)
	b := scenario.Bytes(0)
	if p := os.Getenv("TOCSIN_SIM_PATCH"); p != "" {
		b, _ = scenario.ParseBytes(p)
	}
	s.Patch.Size = &b
	if c := os.Getenv("TOCSIN_SIM_CHUNK"); c != "" {
		cb, _ := scenario.ParseBytes(c)
		s.Patch.Chunk = cb
	}
	wall := RealNow()
	res := runStack(t, s)
	t.Logf("n=%d wall=%s advisory max %.3f delivered %.3f", n, RealNow().Sub(wall), res.Advisory.MaxS, res.Advisory.DeliveredFraction)
	if res.Patch != nil {
		t.Logf("patch p50 %.3f max %.3f ratio %.2f dup %.3f seed %.2f", res.Patch.P50S, res.Patch.MaxS, res.Patch.RatioToBound, res.Patch.DuplicateRatio, res.Patch.SeedEgressRatio)
		if w := res.Patch.Waits; w != nil {
			t.Logf("fetching time: window full %.3f, starved %.3f, blocked %.3f", w.Full, w.Starved, w.Blocked)
		}
		t.Logf("upload MB/s every %.2f s: peers %v seed %v", res.Upload.StepS, res.Upload.Peers, res.Upload.Seed)
		t.Logf("patch CDF %v", res.Patch.CDF)
	}
}
