package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Lifecycle errors. Every error the lifecycle functions return wraps exactly
// one of these, so callers can branch with errors.Is.
var (
	// ErrIllegalTransition is returned when an event is not allowed in the
	// current state (for example EvInstallOK while the patch is still InTest).
	ErrIllegalTransition = errors.New("illegal lifecycle transition")
	// ErrUnknownState is returned for a State value or name outside the
	// defined set (including the zero State).
	ErrUnknownState = errors.New("unknown lifecycle state")
	// ErrUnknownEvent is returned for an Event value or name outside the
	// defined set (including the zero Event).
	ErrUnknownEvent = errors.New("unknown lifecycle event")
	// ErrOutOfOrder is returned by Lifecycle.Apply when the event time is
	// earlier than the last recorded transition.
	ErrOutOfOrder = errors.New("lifecycle event out of order")
	// ErrBrokenHistory is returned by Lifecycle.Verify when the recorded
	// history is not a continuous chain of legal transitions ending in the
	// current state.
	ErrBrokenHistory = errors.New("broken lifecycle history")
)

// State is the patch state of one release on one device, following the patch
// states of IEC TR 62443-2-3 (Table 5), split into the product supplier's side
// and the asset owner's side, plus the failure states needed in practice.
//
// The zero State is not a valid state; a Lifecycle starts in StateAvailable.
type State uint8

// Supplier-side states (IEC TR 62443-2-3, product supplier).
const (
	// StateAvailable: the patch (or the upstream fix it packages) is
	// available to the product supplier and has not been evaluated yet.
	StateAvailable State = iota + 1
	// StateInTest: the product supplier is testing the patch for
	// compatibility with the product.
	StateInTest
	// StateNotApproved: the supplier tested the patch and found it
	// incompatible. Terminal: a fixed patch is a new release.
	StateNotApproved
	// StateNotApplicable: the patch does not apply to the product (the
	// affected component is not used, or not reachable). Terminal.
	StateNotApplicable
	// StateApproved: the supplier tested and approved the patch; it is not
	// yet published to asset owners.
	StateApproved
	// StateReleased: the supplier published the approved patch (signed
	// release and advisory on the network).
	StateReleased

	// StateInInternalTest: the asset owner received the released patch for
	// this device and is evaluating it (internal test or risk assessment).
	StateInInternalTest
	// StateNotAuthorised: the asset owner decided not to install the patch
	// on this device. Terminal for this release, except for EvRecall.
	StateNotAuthorised
	// StateAuthorised: the asset owner authorised installation on this
	// device but has not scheduled it.
	StateAuthorised
	// StateEffective: the authorisation is in effect for this device: the
	// installation is scheduled (for example into the next maintenance
	// window) and the device may install whenever its policy allows.
	StateEffective
	// StateInstalled: the device reported a successful installation.
	StateInstalled

	// StateInstallFailed: an installation attempt failed and the device
	// kept (or restored) its previous software. Not retried silently: the
	// asset owner re-authorises (EvAuthorise) or gives up (EvReject).
	StateInstallFailed
	// StateRolledBack: the patch was installed and then reverted (for
	// example on an operational problem found after installation). Left
	// like StateInstallFailed: EvAuthorise or EvReject.
	StateRolledBack
	// StateRecalled: the supplier withdrew the released patch. Terminal: a
	// device that still runs it is moved on by a superseding release, whose
	// lifecycle is a separate Lifecycle.
	StateRecalled

	stateEnd // one past the last valid State
)

// Event is something that happens to a patch and may change its State.
//
// The zero Event is not a valid event.
type Event uint8

// Events, in rough lifecycle order.
const (
	// EvSupplierTest: the supplier starts testing the patch.
	EvSupplierTest Event = iota + 1
	// EvSupplierApprove: the supplier's tests passed.
	EvSupplierApprove
	// EvSupplierReject: the supplier's tests failed.
	EvSupplierReject
	// EvMarkNotApplicable: the supplier determined the patch does not apply
	// to the product, before or during testing.
	EvMarkNotApplicable
	// EvRelease: the supplier publishes the approved patch.
	EvRelease
	// EvReceive: the device (or its asset owner) received the released
	// patch and starts the asset owner's evaluation.
	EvReceive
	// EvAuthorise: the asset owner authorises installation on the device;
	// also re-authorises after a failed or rolled-back installation.
	EvAuthorise
	// EvReject: the asset owner refuses installation on the device, or
	// withdraws an authorisation before the installation completed.
	EvReject
	// EvSchedule: the authorisation takes effect: the installation is
	// scheduled for the device.
	EvSchedule
	// EvInstallOK: the device reports a successful installation.
	EvInstallOK
	// EvInstallFailed: the device reports a failed installation.
	EvInstallFailed
	// EvRollBack: the device reverted an installed patch.
	EvRollBack
	// EvRecall: the supplier withdraws a released patch.
	EvRecall

	eventEnd // one past the last valid Event
)

// transitions is the whole lifecycle: from-state → event → to-state. Any pair
// not listed is illegal. Keep in step with the table in the Transition doc
// comment and the independent copy in lifecycle_test.go.
var transitions = [stateEnd][eventEnd]State{
	StateAvailable: {
		EvSupplierTest:      StateInTest,
		EvMarkNotApplicable: StateNotApplicable,
	},
	StateInTest: {
		EvSupplierApprove:   StateApproved,
		EvSupplierReject:    StateNotApproved,
		EvMarkNotApplicable: StateNotApplicable,
	},
	StateApproved: {
		EvRelease: StateReleased,
	},
	StateReleased: {
		EvReceive: StateInInternalTest,
		EvRecall:  StateRecalled,
	},
	StateInInternalTest: {
		EvAuthorise: StateAuthorised,
		EvReject:    StateNotAuthorised,
		EvRecall:    StateRecalled,
	},
	StateNotAuthorised: {
		EvRecall: StateRecalled,
	},
	StateAuthorised: {
		EvSchedule: StateEffective,
		EvReject:   StateNotAuthorised,
		EvRecall:   StateRecalled,
	},
	StateEffective: {
		EvInstallOK:     StateInstalled,
		EvInstallFailed: StateInstallFailed,
		EvReject:        StateNotAuthorised,
		EvRecall:        StateRecalled,
	},
	StateInstalled: {
		EvRollBack: StateRolledBack,
		EvRecall:   StateRecalled,
	},
	StateInstallFailed: {
		EvAuthorise: StateAuthorised,
		EvReject:    StateNotAuthorised,
		EvRecall:    StateRecalled,
	},
	StateRolledBack: {
		EvAuthorise: StateAuthorised,
		EvReject:    StateNotAuthorised,
		EvRecall:    StateRecalled,
	},
}

var stateNames = [stateEnd]string{
	StateAvailable:      "available",
	StateInTest:         "in-test",
	StateNotApproved:    "not-approved",
	StateNotApplicable:  "not-applicable",
	StateApproved:       "approved",
	StateReleased:       "released",
	StateInInternalTest: "in-internal-test",
	StateNotAuthorised:  "not-authorised",
	StateAuthorised:     "authorised",
	StateEffective:      "effective",
	StateInstalled:      "installed",
	StateInstallFailed:  "install-failed",
	StateRolledBack:     "rolled-back",
	StateRecalled:       "recalled",
}

var eventNames = [eventEnd]string{
	EvSupplierTest:      "supplier-test",
	EvSupplierApprove:   "supplier-approve",
	EvSupplierReject:    "supplier-reject",
	EvMarkNotApplicable: "mark-not-applicable",
	EvRelease:           "release",
	EvReceive:           "receive",
	EvAuthorise:         "authorise",
	EvReject:            "reject",
	EvSchedule:          "schedule",
	EvInstallOK:         "install-ok",
	EvInstallFailed:     "install-failed",
	EvRollBack:          "roll-back",
	EvRecall:            "recall",
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return s > 0 && s < stateEnd }

// String returns the canonical lower-case name, e.g. "in-internal-test", or
// "State(N)" for an undefined value.
func (s State) String() string {
	if !s.Valid() {
		return fmt.Sprintf("State(%d)", uint8(s))
	}
	return stateNames[s]
}

// Terminal reports whether no event is legal in s.
func (s State) Terminal() bool { return s.Valid() && len(Allowed(s)) == 0 }

// MarshalText encodes s as its canonical name; an undefined State is an error.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("policy: %w: %d", ErrUnknownState, uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a name accepted by ParseState.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState parses a state name. It accepts the canonical names returned by
// String, case-insensitively, with '_' or ' ' in place of '-', and the US
// spellings "authorized" / "not-authorized".
func ParseState(name string) (State, error) {
	n := normaliseName(name)
	n = strings.ReplaceAll(n, "authorized", "authorised")
	for s := StateAvailable; s < stateEnd; s++ {
		if stateNames[s] == n {
			return s, nil
		}
	}
	return 0, fmt.Errorf("policy: %w %q (want one of %s)", ErrUnknownState, name, strings.Join(stateNames[1:], ", "))
}

// Valid reports whether e is one of the defined events.
func (e Event) Valid() bool { return e > 0 && e < eventEnd }

// String returns the canonical lower-case name, e.g. "install-ok", or
// "Event(N)" for an undefined value.
func (e Event) String() string {
	if !e.Valid() {
		return fmt.Sprintf("Event(%d)", uint8(e))
	}
	return eventNames[e]
}

// MarshalText encodes e as its canonical name; an undefined Event is an error.
func (e Event) MarshalText() ([]byte, error) {
	if !e.Valid() {
		return nil, fmt.Errorf("policy: %w: %d", ErrUnknownEvent, uint8(e))
	}
	return []byte(eventNames[e]), nil
}

// UnmarshalText decodes a name accepted by ParseEvent.
func (e *Event) UnmarshalText(b []byte) error {
	v, err := ParseEvent(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// ParseEvent parses an event name. It accepts the canonical names returned by
// String, case-insensitively, with '_' or ' ' in place of '-', and the US
// spelling "authorize".
func ParseEvent(name string) (Event, error) {
	n := normaliseName(name)
	if n == "authorize" {
		n = "authorise"
	}
	for e := EvSupplierTest; e < eventEnd; e++ {
		if eventNames[e] == n {
			return e, nil
		}
	}
	return 0, fmt.Errorf("policy: %w %q (want one of %s)", ErrUnknownEvent, name, strings.Join(eventNames[1:], ", "))
}

func normaliseName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("_", "-", " ", "-").Replace(s)
}

// Transition returns the state that event ev leads to from state from. It is
// the whole lifecycle as a pure function. An event that is not allowed in from
// is refused with an error wrapping ErrIllegalTransition; undefined states
// and events with ErrUnknownState and ErrUnknownEvent.
//
// The legal transitions (every other (state, event) pair is illegal):
//
//	from               event                 to
//	---- supplier side (IEC TR 62443-2-3 product supplier) ----
//	available          supplier-test         in-test
//	available          mark-not-applicable   not-applicable
//	in-test            supplier-approve      approved
//	in-test            supplier-reject       not-approved       (terminal)
//	in-test            mark-not-applicable   not-applicable     (terminal)
//	approved           release               released
//	released           receive               in-internal-test
//	---- asset-owner side, per device ----
//	in-internal-test   authorise             authorised
//	in-internal-test   reject                not-authorised
//	authorised         schedule              effective
//	authorised         reject                not-authorised
//	effective          install-ok            installed
//	effective          install-failed        install-failed
//	effective          reject                not-authorised
//	---- failure handling ----
//	installed          roll-back             rolled-back
//	install-failed     authorise             authorised         (retry needs a new authorisation)
//	install-failed     reject                not-authorised
//	rolled-back        authorise             authorised
//	rolled-back        reject                not-authorised
//	---- recall, from released and every asset-owner state ----
//	released, in-internal-test, not-authorised, authorised, effective,
//	installed, install-failed, rolled-back
//	                   recall                recalled           (terminal)
//
// not-authorised accepts only recall. Terminal states: not-approved,
// not-applicable, recalled.
func Transition(from State, ev Event) (State, error) {
	if !from.Valid() {
		return 0, fmt.Errorf("policy: %w: %s", ErrUnknownState, from)
	}
	if !ev.Valid() {
		return 0, fmt.Errorf("policy: %w: %s", ErrUnknownEvent, ev)
	}
	to := transitions[from][ev]
	if to == 0 {
		allowed := "none, the state is terminal"
		if a := Allowed(from); len(a) > 0 {
			names := make([]string, len(a))
			for i, e := range a {
				names[i] = e.String()
			}
			allowed = strings.Join(names, ", ")
		}
		return 0, fmt.Errorf("policy: %w: event %q in state %q (allowed: %s)", ErrIllegalTransition, ev, from, allowed)
	}
	return to, nil
}

// Allowed returns the events legal in state s, in Event order; nil for a
// terminal or undefined state.
func Allowed(s State) []Event {
	if !s.Valid() {
		return nil
	}
	var out []Event
	for e := EvSupplierTest; e < eventEnd; e++ {
		if transitions[s][e] != 0 {
			out = append(out, e)
		}
	}
	return out
}

// Record is one applied transition, for the audit trail IEC 62443-2-3 asks
// asset owners and suppliers to keep.
type Record struct {
	From  State     `json:"from" yaml:"from"`
	To    State     `json:"to" yaml:"to"`
	Event Event     `json:"event" yaml:"event"`
	At    time.Time `json:"at" yaml:"at"`
	// Actor names who caused the event (operator, supplier key, device ID).
	Actor string `json:"actor,omitempty" yaml:"actor,omitempty"`
	// Ref points at the evidence: test report, change ticket, advisory ID.
	Ref string `json:"ref,omitempty" yaml:"ref,omitempty"`
}

// Lifecycle is the lifecycle of one release on one device: its current State
// and every transition that led there. It is a value: Apply returns a new
// Lifecycle and never modifies the receiver or the History it shares.
//
// The fields are exported for JSON/YAML; a Lifecycle read from storage should
// be checked with Verify before use.
type Lifecycle struct {
	Release string   `json:"release" yaml:"release"`
	Device  string   `json:"device,omitempty" yaml:"device,omitempty"`
	State   State    `json:"state" yaml:"state"`
	History []Record `json:"history,omitempty" yaml:"history,omitempty"`
}

// NewLifecycle returns the lifecycle of release on device in StateAvailable
// with an empty history. A device that only ever sees released patches starts
// from StartAt(StateReleased) instead.
func NewLifecycle(release, device string) Lifecycle {
	return Lifecycle{Release: release, Device: device, State: StateAvailable}
}

// StartAt returns a copy of l with its state set to s and an empty history.
// It is meant for starting a device-side lifecycle at StateReleased; s must
// be a defined state.
func (l Lifecycle) StartAt(s State) (Lifecycle, error) {
	if !s.Valid() {
		return l, fmt.Errorf("policy: %w: %s", ErrUnknownState, s)
	}
	l.State, l.History = s, nil
	return l, nil
}

// Apply applies event ev at time at and returns the new Lifecycle with the
// transition appended to its History. On error l is returned unchanged. at
// must not be earlier than the last recorded transition (ErrOutOfOrder); equal
// times are allowed.
func (l Lifecycle) Apply(ev Event, at time.Time, actor, ref string) (Lifecycle, error) {
	to, err := Transition(l.State, ev)
	if err != nil {
		return l, err
	}
	if n := len(l.History); n > 0 && at.Before(l.History[n-1].At) {
		return l, fmt.Errorf("policy: %w: event %q at %s is before the last transition at %s",
			ErrOutOfOrder, ev, at.Format(time.RFC3339Nano), l.History[n-1].At.Format(time.RFC3339Nano))
	}
	rec := Record{From: l.State, To: to, Event: ev, At: at, Actor: actor, Ref: ref}
	// Clip first so append always copies: earlier Lifecycle values keep
	// their own History.
	l.History = append(slices.Clip(l.History), rec)
	l.State = to
	return l, nil
}

// Verify checks that l.History is a continuous chain of legal transitions
// with non-decreasing times and that it ends in l.State. An empty history is
// valid for any defined state. Errors wrap ErrBrokenHistory or ErrUnknownState.
func (l Lifecycle) Verify() error {
	if !l.State.Valid() {
		return fmt.Errorf("policy: %w: %s", ErrUnknownState, l.State)
	}
	for i, r := range l.History {
		if i > 0 {
			prev := l.History[i-1]
			if r.From != prev.To {
				return fmt.Errorf("policy: %w: record %d starts in %q but record %d ended in %q", ErrBrokenHistory, i, r.From, i-1, prev.To)
			}
			if r.At.Before(prev.At) {
				return fmt.Errorf("policy: %w: record %d at %s is before record %d", ErrBrokenHistory, i, r.At.Format(time.RFC3339Nano), i-1)
			}
		}
		if !r.From.Valid() || !r.Event.Valid() || !r.To.Valid() {
			return fmt.Errorf("policy: %w: record %d: undefined state or event (%s --%s--> %s)", ErrBrokenHistory, i, r.From, r.Event, r.To)
		}
		to := transitions[r.From][r.Event]
		if to == 0 {
			return fmt.Errorf("policy: %w: record %d: %w: event %q in state %q", ErrBrokenHistory, i, ErrIllegalTransition, r.Event, r.From)
		}
		if to != r.To {
			return fmt.Errorf("policy: %w: record %d: event %q in state %q leads to %q, not %q", ErrBrokenHistory, i, r.Event, r.From, to, r.To)
		}
	}
	if n := len(l.History); n > 0 && l.History[n-1].To != l.State {
		return fmt.Errorf("policy: %w: history ends in %q but state is %q", ErrBrokenHistory, l.History[n-1].To, l.State)
	}
	return nil
}
