package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// legalTransitions is written out independently of the transitions table in
// lifecycle.go: the cross-product test checks the implementation against it.
var legalTransitions = []struct {
	from State
	ev   Event
	to   State
}{
	{StateAvailable, EvSupplierTest, StateInTest},
	{StateAvailable, EvMarkNotApplicable, StateNotApplicable},
	{StateInTest, EvSupplierApprove, StateApproved},
	{StateInTest, EvSupplierReject, StateNotApproved},
	{StateInTest, EvMarkNotApplicable, StateNotApplicable},
	{StateApproved, EvRelease, StateReleased},
	{StateReleased, EvReceive, StateInInternalTest},
	{StateReleased, EvRecall, StateRecalled},
	{StateInInternalTest, EvAuthorise, StateAuthorised},
	{StateInInternalTest, EvReject, StateNotAuthorised},
	{StateInInternalTest, EvRecall, StateRecalled},
	{StateNotAuthorised, EvRecall, StateRecalled},
	{StateAuthorised, EvSchedule, StateEffective},
	{StateAuthorised, EvReject, StateNotAuthorised},
	{StateAuthorised, EvRecall, StateRecalled},
	{StateEffective, EvInstallOK, StateInstalled},
	{StateEffective, EvInstallFailed, StateInstallFailed},
	{StateEffective, EvReject, StateNotAuthorised},
	{StateEffective, EvRecall, StateRecalled},
	{StateInstalled, EvRollBack, StateRolledBack},
	{StateInstalled, EvRecall, StateRecalled},
	{StateInstallFailed, EvAuthorise, StateAuthorised},
	{StateInstallFailed, EvReject, StateNotAuthorised},
	{StateInstallFailed, EvRecall, StateRecalled},
	{StateRolledBack, EvAuthorise, StateAuthorised},
	{StateRolledBack, EvReject, StateNotAuthorised},
	{StateRolledBack, EvRecall, StateRecalled},
}

var (
	lcStates = []State{
		StateAvailable, StateInTest, StateNotApproved, StateNotApplicable, StateApproved, StateReleased,
		StateInInternalTest, StateNotAuthorised, StateAuthorised, StateEffective, StateInstalled,
		StateInstallFailed, StateRolledBack, StateRecalled,
	}
	lcEvents = []Event{
		EvSupplierTest, EvSupplierApprove, EvSupplierReject, EvMarkNotApplicable, EvRelease, EvReceive,
		EvAuthorise, EvReject, EvSchedule, EvInstallOK, EvInstallFailed, EvRollBack, EvRecall,
	}
)

func TestTransitionCrossProduct(t *testing.T) {
	type key struct {
		from State
		ev   Event
	}
	want := make(map[key]State, len(legalTransitions))
	for _, tr := range legalTransitions {
		if _, dup := want[key{tr.from, tr.ev}]; dup {
			t.Fatalf("test table lists %s/%s twice", tr.from, tr.ev)
		}
		want[key{tr.from, tr.ev}] = tr.to
	}
	if got := int(stateEnd) - 1; got != len(lcStates) {
		t.Fatalf("lcStates has %d states, package defines %d", len(lcStates), got)
	}
	if got := int(eventEnd) - 1; got != len(lcEvents) {
		t.Fatalf("lcEvents has %d events, package defines %d", len(lcEvents), got)
	}
	legal, illegal := 0, 0
	for _, from := range lcStates {
		for _, ev := range lcEvents {
			got, err := Transition(from, ev)
			if to, ok := want[key{from, ev}]; ok {
				legal++
				if err != nil {
					t.Errorf("Transition(%s, %s): unexpected error %v", from, ev, err)
				} else if got != to {
					t.Errorf("Transition(%s, %s) = %s, want %s", from, ev, got, to)
				}
				continue
			}
			illegal++
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("Transition(%s, %s) = %s, %v; want ErrIllegalTransition", from, ev, got, err)
				continue
			}
			if got != 0 {
				t.Errorf("Transition(%s, %s) returned state %s with its error", from, ev, got)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, `"`+from.String()+`"`) || !strings.Contains(msg, `"`+ev.String()+`"`) {
				t.Errorf("error for %s/%s should name both on one line: %q", from, ev, msg)
			}
		}
	}
	if total := len(lcStates) * len(lcEvents); legal+illegal != total || legal != len(legalTransitions) {
		t.Fatalf("covered %d legal + %d illegal of %d pairs; legal table has %d", legal, illegal, total, len(legalTransitions))
	}
}

func TestTransitionUndefined(t *testing.T) {
	tests := []struct {
		from State
		ev   Event
		want error
	}{
		{0, EvSupplierTest, ErrUnknownState},
		{stateEnd, EvSupplierTest, ErrUnknownState},
		{StateAvailable, 0, ErrUnknownEvent},
		{StateAvailable, eventEnd, ErrUnknownEvent},
	}
	for _, tt := range tests {
		if _, err := Transition(tt.from, tt.ev); !errors.Is(err, tt.want) {
			t.Errorf("Transition(%d, %d) error = %v, want %v", tt.from, tt.ev, err, tt.want)
		}
	}
}

func TestTerminalAndAllowed(t *testing.T) {
	terminal := map[State]bool{StateNotApproved: true, StateNotApplicable: true, StateRecalled: true}
	for _, s := range lcStates {
		if got := s.Terminal(); got != terminal[s] {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, terminal[s])
		}
		for _, ev := range Allowed(s) {
			if _, err := Transition(s, ev); err != nil {
				t.Errorf("Allowed(%s) lists %s but Transition refuses it: %v", s, ev, err)
			}
		}
	}
	if State(0).Terminal() || Allowed(0) != nil {
		t.Error("the zero State must be neither terminal nor have allowed events")
	}
	_, err := Transition(StateRecalled, EvRecall)
	if err == nil || !strings.Contains(err.Error(), "terminal") {
		t.Errorf("error in a terminal state should say so: %v", err)
	}
}

func TestStateEventNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range lcStates {
		name := s.String()
		if seen[name] || strings.HasPrefix(name, "State(") {
			t.Errorf("bad or duplicate state name %q", name)
		}
		seen[name] = true
		for _, in := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_"), " " + name + " "} {
			got, err := ParseState(in)
			if err != nil || got != s {
				t.Errorf("ParseState(%q) = %s, %v; want %s", in, got, err, s)
			}
		}
		b, err := s.MarshalText()
		if err != nil || string(b) != name {
			t.Errorf("%s.MarshalText() = %q, %v", s, b, err)
		}
	}
	for _, ev := range lcEvents {
		name := ev.String()
		if seen[name] && name != "install-failed" { // state and event share this name on purpose
			t.Errorf("duplicate name %q", name)
		}
		got, err := ParseEvent(strings.ToUpper(name))
		if err != nil || got != ev {
			t.Errorf("ParseEvent(%q) = %s, %v; want %s", name, got, err, ev)
		}
		var u Event
		if err := u.UnmarshalText([]byte(name)); err != nil || u != ev {
			t.Errorf("UnmarshalText(%q) = %s, %v", name, u, err)
		}
	}
	aliases := map[string]State{"authorized": StateAuthorised, "Not_Authorized": StateNotAuthorised}
	for in, want := range aliases {
		if got, err := ParseState(in); err != nil || got != want {
			t.Errorf("ParseState(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if got, err := ParseEvent("authorize"); err != nil || got != EvAuthorise {
		t.Errorf("ParseEvent(authorize) = %s, %v", got, err)
	}
	for _, bad := range []string{"", "deployed", "in test x"} {
		if _, err := ParseState(bad); !errors.Is(err, ErrUnknownState) {
			t.Errorf("ParseState(%q) error = %v, want ErrUnknownState", bad, err)
		}
		if _, err := ParseEvent(bad); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("ParseEvent(%q) error = %v, want ErrUnknownEvent", bad, err)
		}
	}
	if _, err := State(0).MarshalText(); !errors.Is(err, ErrUnknownState) {
		t.Errorf("State(0).MarshalText() error = %v", err)
	}
	if _, err := Event(99).MarshalText(); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("Event(99).MarshalText() error = %v", err)
	}
	if got := State(99).String(); got != "State(99)" {
		t.Errorf("State(99).String() = %q", got)
	}
}

var lcEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// lcHappyPath drives a lifecycle from available to installed.
func lcHappyPath(t *testing.T) Lifecycle {
	t.Helper()
	l := NewLifecycle("fw-2.4.1", "plc-0042")
	steps := []Event{EvSupplierTest, EvSupplierApprove, EvRelease, EvReceive, EvAuthorise, EvSchedule, EvInstallOK}
	for i, ev := range steps {
		var err error
		l, err = l.Apply(ev, lcEpoch.Add(time.Duration(i)*time.Hour), "actor", "ref")
		if err != nil {
			t.Fatalf("step %d %s: %v", i, ev, err)
		}
	}
	return l
}

func TestLifecycleApply(t *testing.T) {
	l := lcHappyPath(t)
	if l.State != StateInstalled || len(l.History) != 7 {
		t.Fatalf("state %s with %d records, want installed with 7", l.State, len(l.History))
	}
	if r := l.History[6]; r.From != StateEffective || r.To != StateInstalled || r.Event != EvInstallOK || !r.At.Equal(lcEpoch.Add(6*time.Hour)) {
		t.Errorf("last record = %+v", r)
	}
	if err := l.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// Value semantics: two lifecycles branching from the same value do not
	// see each other's records.
	a, err := l.Apply(EvRollBack, lcEpoch.Add(7*time.Hour), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Apply(EvRecall, lcEpoch.Add(7*time.Hour), "b", "")
	if err != nil {
		t.Fatal(err)
	}
	if l.State != StateInstalled || len(l.History) != 7 {
		t.Errorf("Apply changed its receiver: %s, %d records", l.State, len(l.History))
	}
	if a.History[7].Event != EvRollBack || b.History[7].Event != EvRecall {
		t.Errorf("branches share history: a=%s b=%s", a.History[7].Event, b.History[7].Event)
	}

	// Refused events leave the lifecycle as it was.
	c, err := a.Apply(EvInstallOK, lcEpoch.Add(8*time.Hour), "", "")
	if !errors.Is(err, ErrIllegalTransition) || c.State != StateRolledBack || len(c.History) != 8 {
		t.Errorf("illegal Apply: err=%v state=%s records=%d", err, c.State, len(c.History))
	}
	c, err = a.Apply(EvAuthorise, lcEpoch.Add(6*time.Hour), "", "")
	if !errors.Is(err, ErrOutOfOrder) || c.State != StateRolledBack {
		t.Errorf("out-of-order Apply: err=%v state=%s", err, c.State)
	}
	if _, err := a.Apply(EvAuthorise, lcEpoch.Add(7*time.Hour), "", ""); err != nil {
		t.Errorf("an event at the same time as the last one must be accepted: %v", err)
	}
}

func TestLifecycleStartAt(t *testing.T) {
	l, err := NewLifecycle("r", "d").StartAt(StateReleased)
	if err != nil || l.State != StateReleased {
		t.Fatalf("StartAt(released) = %s, %v", l.State, err)
	}
	if l, err = l.Apply(EvReceive, lcEpoch, "", ""); err != nil || l.State != StateInInternalTest {
		t.Errorf("receive after StartAt: %s, %v", l.State, err)
	}
	if _, err := l.StartAt(0); !errors.Is(err, ErrUnknownState) {
		t.Errorf("StartAt(0) error = %v", err)
	}
}

func TestLifecycleVerify(t *testing.T) {
	good := lcHappyPath(t)
	tests := []struct {
		name   string
		mutate func(l *Lifecycle)
		want   error
	}{
		{"state disagrees with history", func(l *Lifecycle) { l.State = StateEffective }, ErrBrokenHistory},
		{"gap in chain", func(l *Lifecycle) { l.History = append(l.History[:2:2], l.History[3:]...) }, ErrBrokenHistory},
		{"wrong target", func(l *Lifecycle) { l.History[1].To = StateNotApproved }, ErrBrokenHistory},
		{"illegal event", func(l *Lifecycle) { l.History[0].Event = EvInstallOK }, ErrIllegalTransition},
		{"time goes back", func(l *Lifecycle) { l.History[3].At = lcEpoch.Add(-time.Hour) }, ErrBrokenHistory},
		{"undefined state", func(l *Lifecycle) { l.State = 0 }, ErrUnknownState},
		{"undefined event in record", func(l *Lifecycle) { l.History[2].Event = 0 }, ErrBrokenHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := good
			l.History = append([]Record(nil), good.History...)
			tt.mutate(&l)
			if err := l.Verify(); !errors.Is(err, tt.want) {
				t.Errorf("Verify() = %v, want %v", err, tt.want)
			}
		})
	}
	if err := (Lifecycle{State: StateApproved}).Verify(); err != nil {
		t.Errorf("empty history: %v", err)
	}
}

func TestLifecycleEncoding(t *testing.T) {
	l := lcHappyPath(t)
	js, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"state":"installed"`) || !strings.Contains(string(js), `"event":"install-ok"`) {
		t.Errorf("JSON does not use names: %s", js)
	}
	var back Lifecycle
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.State != l.State || len(back.History) != len(l.History) || back.History[6] != l.History[6] {
		t.Errorf("JSON round trip changed the lifecycle:\n%+v\n%+v", back, l)
	}
	if err := back.Verify(); err != nil {
		t.Errorf("Verify after JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"state":"deployed"}`), &back); !errors.Is(err, ErrUnknownState) {
		t.Errorf("unknown state in JSON: %v", err)
	}
}
