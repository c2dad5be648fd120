package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Device is what a device runs: product id → installed version.
type Device struct {
	Products map[string]string
	// Hardware is the device's hardware id ("" if not configured).
	Hardware string
}

// CompareVersions orders two version strings: dot- or dash-separated
// segments compared numerically when both are numbers, as text otherwise
// ("1.10" > "1.9", "2.0.0" > "2.0", "1.0-rc1" < "1.0-rc2"). It is total and
// never fails.
func CompareVersions(a, b string) int {
	sa, sb := splitVersion(a), splitVersion(b)
	for i := 0; i < len(sa) || i < len(sb); i++ {
		if i >= len(sa) {
			return -1
		}
		if i >= len(sb) {
			return 1
		}
		na, ea := strconv.ParseUint(sa[i], 10, 64)
		nb, eb := strconv.ParseUint(sb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ea == nil: // numbers sort after text ("1.0.rc1" < "1.0.0")
			return 1
		case eb == nil:
			return -1
		default:
			if c := strings.Compare(sa[i], sb[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}

func splitVersion(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '_' || r == '~' })
}

// Applies reports whether adv concerns dev: the device runs the advisory's
// product at a version older than the fixed one.
func Applies(dev Device, adv trust.Advisory) bool {
	running, ok := dev.Products[adv.Product]
	return ok && CompareVersions(running, adv.FixedVersion) < 0
}

// Phase is where one release stands on one device.
type Phase int

// Phases of a release on a device.
const (
	PhaseNone       Phase = iota // not started
	PhaseFetching                // DAG being fetched
	PhaseFetched                 // file reassembled and verified
	PhaseInstalling              // installer running
	PhaseInstalled               // installer succeeded
	PhaseFailed                  // last attempt failed; see Progress.Attempts
	PhaseRecalled                // the supplier withdrew the release; rolled back if it was installed
)

var phaseNames = [...]string{"none", "fetching", "fetched", "installing", "installed", "failed", "recalled"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// MarshalText encodes the phase name.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a phase name.
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if n == string(b) {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("unknown phase %q", b)
}

// Progress is what the device has done so far for one release.
type Progress struct {
	Phase       Phase     `json:"phase"`
	Fetched     bool      `json:"fetched"`               // the verified file is on disk
	Attempts    int       `json:"attempts"`              // failed attempts so far
	LastFailure time.Time `json:"last_failure,omitzero"` // when the last attempt failed
	FailedStep  string    `json:"failed_step,omitempty"` // "fetch", "install" or "rollback"
	// Recalled is set once the device holds a signed recall of the release.
	Recalled bool `json:"recalled,omitempty"`
	// Previous is the version the device ran before installing the
	// release: what a rollback returns to.
	Previous string `json:"previous,omitempty"`
}

// Action is the next step for one release on one device.
type Action int

// Actions the node carries out.
const (
	Wait     Action = iota // nothing now; evaluate again later
	Fetch                  // fetch and verify the release
	Install                // run the installer on the verified file
	Done                   // nothing more to do, ever
	Rollback               // run the rollback command: an installed release was recalled
)

var actionNames = [...]string{"wait", "fetch", "install", "done", "rollback"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Decision is the action and a reason a person can read.
type Decision struct {
	Action Action
	Reason string
	// RetryAt is set with Wait after a failure: when to evaluate again.
	RetryAt time.Time
	// Err is set with Done when the release is refused for this device
	// (wrong hardware, not applicable, expired manifest).
	Err error
}

// RetryPolicy bounds retries after failures.
type RetryPolicy struct {
	// Base is the first back-off; it doubles per failure. Default 2s.
	Base time.Duration
	// Max caps the back-off. Default 5m.
	Max time.Duration
	// MaxInstallAttempts stops installing after this many failed installer
	// runs; fetch failures are retried without limit. Default 3.
	MaxInstallAttempts int
}

// DefaultRetryPolicy returns the documented defaults.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: 2 * time.Second, Max: 5 * time.Minute, MaxInstallAttempts: 3}
}

// Backoff is the wait after the n-th consecutive failure (n >= 1).
func (r RetryPolicy) Backoff(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	if d > r.Max {
		d = r.Max
	}
	return d
}

// Next decides the next step for release rel, announced by advisory adv, on
// device dev, given its progress and the time now. It is pure.
func Next(dev Device, adv trust.Advisory, rel trust.Release, p Progress, rp RetryPolicy, now time.Time) Decision {
	if adv.ReleaseID != rel.ID() {
		return Decision{Action: Done, Reason: fmt.Sprintf("advisory %s points at %s, not %s", adv.ID, adv.ReleaseID, rel.ID())}
	}
	if p.Recalled {
		return OnRecall(rel.ID(), p, rp, now)
	}
	if p.Phase == PhaseInstalled {
		return Decision{Action: Done, Reason: "installed"}
	}
	running, ok := dev.Products[rel.Product]
	if !ok {
		return Decision{Action: Done, Reason: fmt.Sprintf("device does not run %s", rel.Product)}
	}
	if CompareVersions(running, rel.Version) >= 0 {
		return Decision{Action: Done, Reason: fmt.Sprintf("device runs %s %s, not older than %s", rel.Product, running, rel.Version)}
	}
	if err := Compatible(dev, rel, now); err != nil {
		return Decision{Action: Done, Reason: err.Error(), Err: err}
	}
	switch p.Phase {
	case PhaseInstalled:
		return Decision{Action: Done, Reason: "installed"}
	case PhaseFetching, PhaseInstalling:
		return Decision{Action: Wait, Reason: p.Phase.String() + " in progress"}
	case PhaseFailed:
		if p.FailedStep == "install" && p.Attempts >= rp.MaxInstallAttempts {
			return Decision{Action: Done, Reason: fmt.Sprintf("installer failed %d times; giving up", p.Attempts)}
		}
		retry := p.LastFailure.Add(rp.Backoff(p.Attempts))
		if now.Before(retry) {
			return Decision{Action: Wait, Reason: "backing off after " + p.FailedStep + " failure", RetryAt: retry}
		}
	}
	if !p.Fetched {
		return Decision{Action: Fetch, Reason: fmt.Sprintf("%s %s is older than %s", rel.Product, running, rel.Version)}
	}
	return Decision{Action: Install, Reason: "verified file ready"}
}

// OnRecall decides what a device does about a release the supplier has
// recalled, given its progress: roll back if it was installed (retrying
// with back-off if the rollback command fails), wait for a running step to
// end, and otherwise nothing, ever: a recalled release is not fetched or
// installed.
func OnRecall(id string, p Progress, rp RetryPolicy, now time.Time) Decision {
	switch {
	case p.Phase == PhaseInstalled:
		return Decision{Action: Rollback, Reason: fmt.Sprintf("%s was recalled after it was installed", id)}
	case p.Phase == PhaseFailed && p.FailedStep == "rollback":
		retry := p.LastFailure.Add(rp.Backoff(p.Attempts))
		if p.Attempts >= rp.MaxInstallAttempts {
			return Decision{Action: Done, Reason: fmt.Sprintf("rollback failed %d times; giving up", p.Attempts)}
		}
		if now.Before(retry) {
			return Decision{Action: Wait, Reason: "backing off after rollback failure", RetryAt: retry}
		}
		return Decision{Action: Rollback, Reason: "retrying rollback"}
	case p.Phase == PhaseInstalling || p.Phase == PhaseFetching:
		return Decision{Action: Wait, Reason: p.Phase.String() + " in progress; recalled"}
	}
	return Decision{Action: Done, Reason: fmt.Sprintf("%s was recalled", id)}
}
