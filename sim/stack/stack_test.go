package stack

import (
	"context"
	"math"
	"testing"
	"testing/synctest"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

func small(devices int) scenario.Scenario {
	s := scenario.Default()
	s.Engine = "stack"
	s.Fleet.Devices = devices
	b := scenario.Bytes(1 << 20)
	s.Patch.Size = &b
	return s
}

func runStack(t *testing.T, s scenario.Scenario) *scenario.Result {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	g := scenario.Build(&s)
	var res *scenario.Result
	synctest.Test(t, func(t *testing.T) {
		var err error
		res, err = Run(context.Background(), &s, g, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	return res
}

// TestStackEngineSmallFleet runs 30 real nodes in virtual time: every device
// gets the advisory and the verified patch, no faster than the bound.
func TestStackEngineSmallFleet(t *testing.T) {
	res := runStack(t, small(30))
	t.Logf("advisory p50 %.3fs max %.3fs; patch p50 %.3fs max %.3fs bound %.3fs ratio %.2f seed %.2fx dup %.3f",
		res.Advisory.P50S, res.Advisory.MaxS, res.Patch.P50S, res.Patch.MaxS, res.Patch.BoundS, res.Patch.RatioToBound,
		res.Patch.SeedEgressRatio, res.Patch.DuplicateRatio)
	if res.Engine != "stack" || res.HonestDevices != 30 {
		t.Errorf("engine %q, %d honest devices", res.Engine, res.HonestDevices)
	}
	if res.Advisory.DeliveredFraction != 1 || res.Patch.CompletedFraction != 1 {
		t.Fatalf("delivered %.2f, completed %.2f, want 1 and 1", res.Advisory.DeliveredFraction, res.Patch.CompletedFraction)
	}
	if res.Patch.MaxS < res.Patch.BoundS {
		t.Errorf("the last device finished in %.3fs, faster than the physical bound %.3fs", res.Patch.MaxS, res.Patch.BoundS)
	}
	if res.Patch.SeedEgressRatio < 1 {
		t.Errorf("the seed sent %.2fx the file; somebody must have sent it all once", res.Patch.SeedEgressRatio)
	}
	if res.Advisory.MaxS <= 0 || res.Advisory.MaxS > res.Patch.MaxS {
		t.Errorf("advisory max %.3fs, patch max %.3fs", res.Advisory.MaxS, res.Patch.MaxS)
	}
	// The nodes' schedulers said what held their fetches back; the
	// shares cover all of it.
	if w := res.Patch.Waits; w == nil || math.Abs(w.Full+w.Starved+w.Blocked-1) > 1e-5 {
		t.Errorf("wait shares %+v", res.Patch.Waits)
	} else {
		t.Logf("fetching time: window full %.2f, starved %.2f, blocked %.2f", w.Full, w.Starved, w.Blocked)
	}
}

// TestStackEngineAdversaries: a fifth of the devices never forward, a victim
// is surrounded by Sybils holding four times its honest connections, and
// forgers publish: every honest device still gets the advisory and the
// verified patch, and no forged advisory is accepted.
func TestStackEngineAdversaries(t *testing.T) {
	s := small(40)
	s.Adversaries = scenario.Adversaries{SilentFraction: 0.2, Forgers: 2, BadBlocks: 2, Sybils: scenario.Sybils{Factor: 4, Victim: 3}}
	res := runStack(t, s)
	t.Logf("honest %d; advisory max %.3fs; patch max %.3fs; forged %d sent %d accepted; bad blocks served %d",
		res.HonestDevices, res.Advisory.MaxS, res.Patch.MaxS, res.Attacks.ForgedSent, res.Attacks.ForgedAccepted, res.Attacks.BadBlocksServed)
	if res.HonestDevices != 40-8-2-2 {
		t.Errorf("%d honest devices, want 28", res.HonestDevices)
	}
	if res.Advisory.DeliveredFraction != 1 || res.Patch.CompletedFraction != 1 {
		t.Fatalf("delivered %.2f, completed %.2f, want 1 and 1", res.Advisory.DeliveredFraction, res.Patch.CompletedFraction)
	}
	if res.Attacks.ForgedSent == 0 || res.Attacks.ForgedAccepted != 0 || res.Attacks.BadBlocksStored != 0 {
		t.Errorf("attacks %+v", res.Attacks)
	}
}

func TestStackEngineRefusesChurn(t *testing.T) {
	s := small(5)
	s.Churn.OfflineFraction = 0.2
	g := scenario.Build(&s)
	if _, err := Run(context.Background(), &s, g, nil); err == nil {
		t.Fatal("churn accepted; the stack engine does not simulate it")
	}
}
