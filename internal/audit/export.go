package audit

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Event names the node appends, with the Details keys each one carries.
// Every record about a release sets Record.Release; records about one
// device set Record.Device. Actor is who (or what) caused the event: an
// operator, the node itself ("node"), the policy engine ("policy").
const (
	// EventAdvisoryReceived: an advisory for the release arrived.
	// Details: DetailAdvisory (advisory ID).
	EventAdvisoryReceived = "advisory-received"
	// EventAuthorised: the asset owner authorised installation.
	// Details: DetailBy (the authoriser, when the Actor only relayed the
	// decision), DetailSIA (security impact assessment reference),
	// DetailDeadline (RFC 3339 delivery deadline).
	EventAuthorised = "authorised"
	// EventRejected: the asset owner rejected the release.
	// Details: DetailBy, DetailReason.
	EventRejected = "rejected"
	// EventInstallStarted: installation began on Device.
	// Details: DetailVersion.
	EventInstallStarted = "install-started"
	// EventInstalled: installation succeeded on Device.
	// Details: DetailVersion.
	EventInstalled = "installed"
	// EventInstallFailed: installation failed on Device.
	// Details: DetailReason.
	EventInstallFailed = "install-failed"
	// EventRolledBack: Device went back to the previous version.
	// Details: DetailReason.
	EventRolledBack = "rolled-back"
	// EventRecalled: the supplier recalled the release.
	// Details: DetailBy, DetailReason.
	EventRecalled = "recalled"
	// EventTransition: the release's lifecycle state changed.
	// Details: DetailFrom, DetailTo, optionally DetailReason.
	EventTransition = "transition"
)

// Details keys.
const (
	DetailFrom     = "from"     // previous lifecycle state
	DetailTo       = "to"       // new lifecycle state
	DetailSIA      = "sia"      // security impact assessment reference
	DetailDeadline = "deadline" // delivery deadline, RFC 3339
	DetailReason   = "reason"   // free text
	DetailBy       = "by"       // the person or key that decided, when not the Actor
	DetailAdvisory = "advisory" // advisory ID
	DetailVersion  = "version"  // software version installed
)

// Deadline statuses in Evidence.DeadlineStatus.
const (
	// DeadlineNone: no authorisation with a deadline is in force.
	DeadlineNone = "none"
	// DeadlineMet: every device installed the release by the deadline.
	DeadlineMet = "met"
	// DeadlineMissed: a device installed after the deadline, or had not
	// installed it when the log already records a later time.
	DeadlineMissed = "missed"
	// DeadlineOpen: some device has not installed yet and nothing in the
	// log is later than the deadline (the package has no clock).
	DeadlineOpen = "open"
	// DeadlineRecalled: the release was recalled before any device had to
	// install it.
	DeadlineRecalled = "recalled"
)

// Step is one record about the release, as shown to an auditor.
type Step struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Event   string            `json:"event"`
	Device  string            `json:"device,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// Decision is an authorisation or rejection.
type Decision struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Event    string    `json:"event"` // EventAuthorised or EventRejected
	By       string    `json:"by"`    // DetailBy, or the Actor
	Actor    string    `json:"actor"`
	SIA      string    `json:"sia,omitempty"`
	Deadline string    `json:"deadline,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// Transition is one lifecycle state change.
type Transition struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	From  string    `json:"from"`
	To    string    `json:"to"`
}

// Installation is one installation outcome on a device.
type Installation struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Device  string    `json:"device,omitempty"`
	Outcome string    `json:"outcome"` // EventInstalled, EventInstallFailed or EventRolledBack
	Version string    `json:"version,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Deadline is DeadlineMet or DeadlineMissed for a successful
	// installation under a deadline, "" otherwise.
	Deadline string `json:"deadline,omitempty"`
}

// Evidence is what an auditor asks for about one release, drawn from one
// node's audit log.
type Evidence struct {
	Release string `json:"release"`
	// Node, LogRecords and LogHead describe the log the evidence came from
	// and are filled in by the caller once it has verified the log.
	Node       string `json:"node,omitempty"`
	LogRecords uint64 `json:"log_records,omitempty"`
	LogHead    string `json:"log_head,omitempty"`

	Devices  []string `json:"devices"`
	Advisory *Step    `json:"advisory,omitempty"` // first EventAdvisoryReceived
	// Authorisation is the decision in force: the last decision, if it
	// authorised the release. AuthorisedBy, AuthorisedAt, SIA and Deadline
	// are taken from it.
	Authorisation  *Decision  `json:"authorisation,omitempty"`
	AuthorisedBy   string     `json:"authorised_by,omitempty"`
	AuthorisedAt   *time.Time `json:"authorised_at,omitempty"`
	SIA            string     `json:"sia,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty"`
	Installed      *time.Time `json:"installed,omitempty"` // when the last device first installed it
	DeadlineStatus string     `json:"deadline_status"`

	Decisions     []Decision     `json:"decisions"`
	Transitions   []Transition   `json:"transitions"`
	Installations []Installation `json:"installations"`
	Recalls       []Step         `json:"recalls"`
	Timeline      []Step         `json:"timeline"` // every record about the release
	// Problems lists what in the log is inconsistent as evidence (an
	// unparseable deadline, an installation before the authorisation).
	Problems []string `json:"problems,omitempty"`
}

// Export gathers the evidence about releaseID from records (a verified log,
// in order). Records about other releases only serve to show how far the
// log's time has run, for DeadlineMissed.
func Export(records []Record, releaseID string) Evidence {
	ev := Evidence{
		Release:        releaseID,
		Devices:        []string{},
		DeadlineStatus: DeadlineNone,
		Decisions:      []Decision{},
		Transitions:    []Transition{},
		Installations:  []Installation{},
		Recalls:        []Step{},
		Timeline:       []Step{},
	}
	var latest time.Time // the latest time anywhere in the log
	devices := map[string]bool{}
	for _, r := range records {
		if r.Time.After(latest) {
			latest = r.Time
		}
		if r.Release != releaseID {
			continue
		}
		d := r.Details
		step := Step{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Event: r.Event, Device: r.Device, Details: d}
		ev.Timeline = append(ev.Timeline, step)
		if r.Device != "" && !devices[r.Device] {
			devices[r.Device] = true
			ev.Devices = append(ev.Devices, r.Device)
		}
		switch r.Event {
		case EventAdvisoryReceived:
			if ev.Advisory == nil {
				s := step
				ev.Advisory = &s
			}
		case EventAuthorised, EventRejected:
			by := d[DetailBy]
			if by == "" {
				by = r.Actor
			}
			ev.Decisions = append(ev.Decisions, Decision{
				Seq: r.Seq, Time: r.Time, Event: r.Event, By: by, Actor: r.Actor,
				SIA: d[DetailSIA], Deadline: d[DetailDeadline], Reason: d[DetailReason],
			})
		case EventTransition:
			ev.Transitions = append(ev.Transitions, Transition{Seq: r.Seq, Time: r.Time, Actor: r.Actor, From: d[DetailFrom], To: d[DetailTo]})
		case EventInstalled, EventInstallFailed, EventRolledBack:
			ev.Installations = append(ev.Installations, Installation{
				Seq: r.Seq, Time: r.Time, Device: r.Device, Outcome: r.Event,
				Version: d[DetailVersion], Reason: d[DetailReason],
			})
		case EventRecalled:
			ev.Recalls = append(ev.Recalls, step)
		}
	}
	sort.Strings(ev.Devices)
	if n := len(ev.Decisions); n > 0 && ev.Decisions[n-1].Event == EventAuthorised {
		a := ev.Decisions[n-1]
		ev.Authorisation = &a
		ev.AuthorisedBy = a.By
		at := a.Time
		ev.AuthorisedAt = &at
		ev.SIA = a.SIA
		if a.Deadline != "" {
			dl, err := time.Parse(time.RFC3339, a.Deadline)
			if err != nil {
				ev.Problems = append(ev.Problems, fmt.Sprintf("record %d: deadline %q is not an RFC 3339 time", a.Seq, a.Deadline))
			} else {
				dl = dl.UTC()
				ev.Deadline = &dl
			}
		}
	}
	ev.deliveries(latest)
	return ev
}

// deliveries works out when each device first installed the release and
// whether that met the deadline.
func (ev *Evidence) deliveries(latest time.Time) {
	first := map[string]time.Time{} // device → first successful installation
	for i := range ev.Installations {
		in := &ev.Installations[i]
		if in.Outcome != EventInstalled {
			continue
		}
		if !authorisedBefore(ev.Decisions, in.Seq) {
			ev.Problems = append(ev.Problems, fmt.Sprintf("record %d: installed with no authorisation before it", in.Seq))
		}
		if _, ok := first[in.Device]; !ok {
			first[in.Device] = in.Time
		}
		if ev.Deadline != nil {
			in.Deadline = DeadlineMet
			if in.Time.After(*ev.Deadline) {
				in.Deadline = DeadlineMissed
			}
		}
	}
	for _, t := range first {
		if ev.Installed == nil || t.After(*ev.Installed) {
			tt := t
			ev.Installed = &tt
		}
	}
	if ev.Deadline == nil {
		return
	}
	dl := *ev.Deadline
	recalled := false
	for _, r := range ev.Recalls {
		if !r.Time.After(dl) {
			recalled = true
		}
	}
	expected := ev.Devices
	if len(expected) == 0 {
		expected = []string{""}
	}
	pending := 0
	for _, dev := range expected {
		t, ok := first[dev]
		switch {
		case ok && t.After(dl):
			ev.DeadlineStatus = DeadlineMissed
			return
		case !ok && !recalled:
			pending++
		}
	}
	switch {
	case pending > 0 && latest.After(dl):
		ev.DeadlineStatus = DeadlineMissed
	case pending > 0:
		ev.DeadlineStatus = DeadlineOpen
	case len(first) == 0:
		ev.DeadlineStatus = DeadlineRecalled
	default:
		ev.DeadlineStatus = DeadlineMet
	}
}

// authorisedBefore reports whether an authorisation precedes record seq.
func authorisedBefore(ds []Decision, seq uint64) bool {
	for _, d := range ds {
		if d.Event == EventAuthorised && d.Seq < seq {
			return true
		}
	}
	return false
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func fmtTimeP(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return fmtTime(*t)
}

// cell makes s safe inside a Markdown table cell: one line, no column
// break, no raw HTML.
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`, "<", "&lt;").Replace(s)
}

func details(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, ", ")
}

// Markdown renders the evidence as a Markdown report.
func (ev Evidence) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Audit evidence: release %s\n\n", cell(ev.Release))
	if ev.Node != "" || ev.LogHead != "" {
		w("Drawn from the audit log of node %s (%d records, head %s), verified against the node's identity key.\n\n",
			cell(ev.Node), ev.LogRecords, cell(ev.LogHead))
	}
	w("| | |\n|---|---|\n")
	if ev.Authorisation != nil {
		w("| Authorised by | %s |\n", cell(ev.AuthorisedBy))
		w("| Authorised at | %s (record %d) |\n", fmtTimeP(ev.AuthorisedAt), ev.Authorisation.Seq)
	} else {
		w("| Authorised by | not authorised |\n")
	}
	w("| SIA reference | %s |\n", cell(ev.SIA))
	w("| Delivery deadline | %s |\n", fmtTimeP(ev.Deadline))
	w("| Installed | %s |\n", fmtTimeP(ev.Installed))
	w("| Deadline | **%s** |\n", ev.DeadlineStatus)
	if ev.Advisory != nil {
		w("| Advisory received | %s (record %d) |\n", fmtTime(ev.Advisory.Time), ev.Advisory.Seq)
	}
	w("| Devices | %s |\n", cell(strings.Join(ev.Devices, ", ")))
	w("| Records about the release | %d |\n", len(ev.Timeline))
	if len(ev.Problems) > 0 {
		w("\n## Problems\n\n")
		for _, p := range ev.Problems {
			w("- %s\n", cell(p))
		}
	}
	w("\n## Decisions\n\n")
	if len(ev.Decisions) == 0 {
		w("None recorded.\n")
	} else {
		w("| Record | Time | Decision | By | Actor | SIA | Deadline | Reason |\n|---|---|---|---|---|---|---|---|\n")
		for _, d := range ev.Decisions {
			w("| %d | %s | %s | %s | %s | %s | %s | %s |\n", d.Seq, fmtTime(d.Time), cell(d.Event), cell(d.By), cell(d.Actor), cell(d.SIA), cell(d.Deadline), cell(d.Reason))
		}
	}
	w("\n## Lifecycle transitions\n\n")
	if len(ev.Transitions) == 0 {
		w("None recorded.\n")
	} else {
		w("| Record | Time | Actor | From | To |\n|---|---|---|---|---|\n")
		for _, t := range ev.Transitions {
			w("| %d | %s | %s | %s | %s |\n", t.Seq, fmtTime(t.Time), cell(t.Actor), cell(t.From), cell(t.To))
		}
	}
	w("\n## Installation outcomes\n\n")
	if len(ev.Installations) == 0 {
		w("None recorded.\n")
	} else {
		w("| Record | Time | Device | Outcome | Version | Reason | Deadline |\n|---|---|---|---|---|---|---|\n")
		for _, in := range ev.Installations {
			w("| %d | %s | %s | %s | %s | %s | %s |\n", in.Seq, fmtTime(in.Time), cell(in.Device), cell(in.Outcome), cell(in.Version), cell(in.Reason), cell(in.Deadline))
		}
	}
	if len(ev.Recalls) > 0 {
		w("\n## Recalls\n\n| Record | Time | Actor | Details |\n|---|---|---|---|\n")
		for _, r := range ev.Recalls {
			w("| %d | %s | %s | %s |\n", r.Seq, fmtTime(r.Time), cell(r.Actor), cell(details(r.Details)))
		}
	}
	w("\n## Full timeline\n\n")
	if len(ev.Timeline) == 0 {
		w("No records about this release.\n")
	} else {
		w("| Record | Time | Actor | Event | Device | Details |\n|---|---|---|---|---|---|\n")
		for _, s := range ev.Timeline {
			w("| %d | %s | %s | %s | %s | %s |\n", s.Seq, fmtTime(s.Time), cell(s.Actor), cell(s.Event), cell(s.Device), cell(details(s.Details)))
		}
	}
	return b.String()
}
