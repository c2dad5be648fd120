package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0}, {"1.9", "1.10", -1}, {"2.0", "2.0.0", -1}, {"1.0-rc1", "1.0-rc2", -1},
		{"1.0.rc1", "1.0.0", -1}, {"10.0", "9.9.9", 1}, {"V2", "V10", 1},
	}
	for _, c := range cases {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
}

func TestNext(t *testing.T) {
	rel := trust.Release{Product: "fw", Version: "2.0"}
	adv := trust.Advisory{ID: "A", Product: "fw", FixedVersion: "2.0", ReleaseID: "fw@2.0"}
	dev := Device{Products: map[string]string{"fw": "1.0"}}
	rp := DefaultRetryPolicy()
	now := time.Unix(1e6, 0)
	cases := []struct {
		name string
		dev  Device
		p    Progress
		want Action
	}{
		{"fresh", dev, Progress{}, Fetch},
		{"fetching", dev, Progress{Phase: PhaseFetching}, Wait},
		{"fetched", dev, Progress{Phase: PhaseFetched, Fetched: true}, Install},
		{"installing", dev, Progress{Phase: PhaseInstalling, Fetched: true}, Wait},
		{"installed", dev, Progress{Phase: PhaseInstalled, Fetched: true}, Done},
		{"already newer", Device{Products: map[string]string{"fw": "3.0"}}, Progress{}, Done},
		{"other product", Device{Products: map[string]string{"hmi": "1.0"}}, Progress{}, Done},
		{"fetch failed just now", dev, Progress{Phase: PhaseFailed, Attempts: 1, LastFailure: now, FailedStep: "fetch"}, Wait},
		{"fetch failed long ago", dev, Progress{Phase: PhaseFailed, Attempts: 1, LastFailure: now.Add(-time.Hour), FailedStep: "fetch"}, Fetch},
		{"install failed, retry", dev, Progress{Phase: PhaseFailed, Fetched: true, Attempts: 1, LastFailure: now.Add(-time.Hour), FailedStep: "install"}, Install},
		{"install failed too often", dev, Progress{Phase: PhaseFailed, Fetched: true, Attempts: 3, LastFailure: now.Add(-time.Hour), FailedStep: "install"}, Done},
	}
	for _, c := range cases {
		if got := Next(c.dev, adv, rel, c.p, rp, now).Action; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	other := adv
	other.ReleaseID = "fw@9"
	if got := Next(dev, other, rel, Progress{}, rp, now).Action; got != Done {
		t.Errorf("advisory for another release: %s", got)
	}
	if !Applies(dev, adv) || Applies(Device{Products: map[string]string{"fw": "2.0"}}, adv) {
		t.Error("Applies")
	}
	if rp.Backoff(1) != 2*time.Second || rp.Backoff(3) != 8*time.Second || rp.Backoff(100) != rp.Max {
		t.Errorf("backoff %s %s %s", rp.Backoff(1), rp.Backoff(3), rp.Backoff(100))
	}
}

func TestCompatibleAndRecall(t *testing.T) {
	now := time.Unix(1e6, 0)
	rel := trust.Release{Product: "fw", Version: "2.0", Hardware: []string{"x200", "x300"},
		AppliesTo: []string{">=1.5 <2.0", "=1.0.9"}, Expires: now.Add(time.Hour)}
	dev := func(hw, v string) Device { return Device{Hardware: hw, Products: map[string]string{"fw": v}} }
	cases := []struct {
		name string
		dev  Device
		now  time.Time
		want error
	}{
		{"fits", dev("x300", "1.7"), now, nil},
		{"second constraint", dev("x200", "1.0.9"), now, nil},
		{"wrong hardware", dev("x100", "1.7"), now, ErrWrongHardware},
		{"no hardware configured", dev("", "1.7"), now, ErrWrongHardware},
		{"version not covered", dev("x200", "1.2"), now, ErrNotApplicable},
		{"expired manifest", dev("x200", "1.7"), now.Add(time.Hour), trust.ErrExpired},
	}
	for _, c := range cases {
		if err := Compatible(c.dev, rel, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	adv := trust.Advisory{ID: "A", Product: "fw", FixedVersion: "2.0", ReleaseID: "fw@2.0"}
	rp := DefaultRetryPolicy()
	if d := Next(dev("x100", "1.7"), adv, rel, Progress{}, rp, now); d.Action != Done {
		t.Errorf("wrong hardware must never fetch: %v", d)
	}
	for _, c := range []struct {
		name string
		p    Progress
		want Action
	}{
		{"recalled before fetch", Progress{Recalled: true}, Done},
		{"recalled after install", Progress{Recalled: true, Phase: PhaseInstalled, Previous: "1.7"}, Rollback},
		{"recalled while installing", Progress{Recalled: true, Phase: PhaseInstalling}, Wait},
		{"rollback failed just now", Progress{Recalled: true, Phase: PhaseFailed, FailedStep: "rollback", Attempts: 1, LastFailure: now}, Wait},
		{"rollback failed long ago", Progress{Recalled: true, Phase: PhaseFailed, FailedStep: "rollback", Attempts: 1, LastFailure: now.Add(-time.Hour)}, Rollback},
		{"rolled back", Progress{Recalled: true, Phase: PhaseRecalled}, Done},
	} {
		// The device runs the recalled version after installing it.
		if got := Next(dev("x200", "2.0"), adv, rel, c.p, rp, now).Action; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if !Satisfies("1.5", ">=1.5 <2.0") || Satisfies("2.0", ">=1.5 <2.0") || !Satisfies("3", "") || !Satisfies("1.0", "1.0") {
		t.Error("Satisfies")
	}
}
