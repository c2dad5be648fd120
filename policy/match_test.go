package policy

import (
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
