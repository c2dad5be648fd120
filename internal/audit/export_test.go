package audit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/tocsin-iiot/tocsin/internal/audit"
)

const rel = "fw-2.1.4"

// history appends a scripted lifecycle of rel (with another release's
// records interleaved) and returns the verified records. installAt is when
// plc-7 installs (zero: it never does); extra entries are appended last.
func history(t *testing.T, installAt time.Duration, extra ...audit.Entry) []audit.Record {
	t.Helper()
	ctx := context.Background()
	key := testKey(t, 5)
	d := dssync.MutexWrap(datastore.NewMapDatastore())
	l, err := audit.Open(ctx, d, key)
	if err != nil {
		t.Fatal(err)
	}
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	es := []audit.Entry{
		{Time: at(0), Actor: "node", Event: audit.EventAdvisoryReceived, Release: rel, Details: map[string]string{audit.DetailAdvisory: "TOCSIN-2025-0007"}},
		{Time: at(0), Actor: "node", Event: audit.EventTransition, Release: rel, Details: map[string]string{audit.DetailFrom: "", audit.DetailTo: "announced"}},
		{Time: at(0.5), Actor: "node", Event: audit.EventAdvisoryReceived, Release: "other-1.0"},
		{Time: at(2), Actor: "owner-console", Event: audit.EventAuthorised, Release: rel, Details: map[string]string{
			audit.DetailBy: "alice@plant-owner", audit.DetailSIA: "SIA-2025-014", audit.DetailDeadline: at(72).Format(time.RFC3339)}},
		{Time: at(2), Actor: "node", Event: audit.EventTransition, Release: rel, Details: map[string]string{audit.DetailFrom: "announced", audit.DetailTo: "authorised"}},
	}
	if installAt != 0 {
		es = append(es,
			audit.Entry{Time: t0.Add(installAt - time.Hour), Actor: "node", Event: audit.EventInstallStarted, Release: rel, Device: "plc-7"},
			audit.Entry{Time: t0.Add(installAt - 30*time.Minute), Actor: "node", Event: audit.EventInstallFailed, Release: rel, Device: "plc-7", Details: map[string]string{audit.DetailReason: "flash | verify failed"}},
			audit.Entry{Time: t0.Add(installAt), Actor: "node", Event: audit.EventInstalled, Release: rel, Device: "plc-7", Details: map[string]string{audit.DetailVersion: "2.1.4"}},
			audit.Entry{Time: t0.Add(installAt), Actor: "node", Event: audit.EventTransition, Release: rel, Details: map[string]string{audit.DetailFrom: "authorised", audit.DetailTo: "installed"}},
		)
	}
	es = append(es, extra...)
	for _, e := range es {
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	recs, _, err := audit.VerifyStore(ctx, d, key.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestExportDeadlineMet(t *testing.T) {
	ev := audit.Export(history(t, 48*time.Hour), rel)
	if ev.AuthorisedBy != "alice@plant-owner" || ev.SIA != "SIA-2025-014" || ev.AuthorisedAt == nil || !ev.AuthorisedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("authorisation: by %q sia %q at %v", ev.AuthorisedBy, ev.SIA, ev.AuthorisedAt)
	}
	if ev.Authorisation == nil || ev.Authorisation.Actor != "owner-console" || ev.Authorisation.Seq != 4 {
		t.Fatalf("authorisation record %+v", ev.Authorisation)
	}
	if ev.Deadline == nil || !ev.Deadline.Equal(t0.Add(72*time.Hour)) {
		t.Fatalf("deadline %v", ev.Deadline)
	}
	if ev.Installed == nil || !ev.Installed.Equal(t0.Add(48*time.Hour)) || ev.DeadlineStatus != audit.DeadlineMet {
		t.Fatalf("installed %v, status %q", ev.Installed, ev.DeadlineStatus)
	}
	if ev.Advisory == nil || ev.Advisory.Details[audit.DetailAdvisory] != "TOCSIN-2025-0007" {
		t.Fatalf("advisory %+v", ev.Advisory)
	}
	if len(ev.Transitions) != 3 || ev.Transitions[1].From != "announced" || ev.Transitions[1].To != "authorised" || ev.Transitions[2].To != "installed" || ev.Transitions[2].Actor != "node" {
		t.Fatalf("transitions %+v", ev.Transitions)
	}
	if len(ev.Installations) != 2 || ev.Installations[0].Outcome != audit.EventInstallFailed || ev.Installations[1].Outcome != audit.EventInstalled || ev.Installations[1].Deadline != audit.DeadlineMet || ev.Installations[1].Version != "2.1.4" {
		t.Fatalf("installations %+v", ev.Installations)
	}
	if len(ev.Devices) != 1 || ev.Devices[0] != "plc-7" || len(ev.Timeline) != 8 || len(ev.Problems) != 0 {
		t.Fatalf("devices %v, %d timeline steps, problems %v", ev.Devices, len(ev.Timeline), ev.Problems)
	}
	for _, s := range ev.Timeline {
		if s.Seq == 3 {
			t.Fatal("another release's record in the timeline")
		}
	}

	md := ev.Markdown()
	for _, want := range []string{
		"# Audit evidence: release fw-2.1.4",
		"| Authorised by | alice@plant-owner |",
		"| SIA reference | SIA-2025-014 |",
		"| Delivery deadline | 2025-03-07T08:00:00Z |",
		"| Installed | 2025-03-06T08:00:00Z |",
		"| Deadline | **met** |",
		"| 5 | 2025-03-04T10:00:00Z | node | announced | authorised |",
		`flash \| verify failed`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"release", "authorised_by", "authorised_at", "sia", "deadline", "installed", "deadline_status", "decisions", "transitions", "installations", "timeline"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if back["deadline_status"] != "met" || back["authorised_by"] != "alice@plant-owner" {
		t.Errorf("JSON %s", b)
	}
}

func TestExportDeadlineMissed(t *testing.T) {
	ev := audit.Export(history(t, 80*time.Hour), rel)
	if ev.DeadlineStatus != audit.DeadlineMissed || ev.Installations[1].Deadline != audit.DeadlineMissed {
		t.Fatalf("installed at 80h against a 72h deadline: %q", ev.DeadlineStatus)
	}
	if !strings.Contains(ev.Markdown(), "| Deadline | **missed** |") {
		t.Fatal("Markdown does not say missed")
	}
}

func TestExportNotInstalled(t *testing.T) {
	// Nothing in the log after the deadline: still open.
	if ev := audit.Export(history(t, 0), rel); ev.DeadlineStatus != audit.DeadlineOpen || ev.Installed != nil {
		t.Fatalf("not installed, no later record: %q", ev.DeadlineStatus)
	}
	// The log runs past the deadline (another release's record) without
	// an installation: missed.
	later := audit.Entry{Time: t0.Add(100 * time.Hour), Actor: "node", Event: audit.EventAdvisoryReceived, Release: "other-2.0"}
	if ev := audit.Export(history(t, 0, later), rel); ev.DeadlineStatus != audit.DeadlineMissed {
		t.Fatalf("not installed, log past the deadline: %q", ev.DeadlineStatus)
	}
	// Recalled before the deadline: nothing was due.
	recall := audit.Entry{Time: t0.Add(10 * time.Hour), Actor: "node", Event: audit.EventRecalled, Release: rel, Details: map[string]string{audit.DetailBy: "supplier", audit.DetailReason: "bricks rev B boards"}}
	ev := audit.Export(history(t, 0, recall, later), rel)
	if ev.DeadlineStatus != audit.DeadlineRecalled || len(ev.Recalls) != 1 {
		t.Fatalf("recalled: %q, recalls %v", ev.DeadlineStatus, ev.Recalls)
	}
}

func TestExportRejectedAndUnknown(t *testing.T) {
	reject := audit.Entry{Time: t0.Add(3 * time.Hour), Actor: "owner-console", Event: audit.EventRejected, Release: rel, Details: map[string]string{audit.DetailBy: "bob@plant-owner", audit.DetailReason: "SIA reopened"}}
	ev := audit.Export(history(t, 0, reject), rel)
	if ev.Authorisation != nil || ev.AuthorisedBy != "" || ev.DeadlineStatus != audit.DeadlineNone || len(ev.Decisions) != 2 || ev.Decisions[1].By != "bob@plant-owner" {
		t.Fatalf("rejected after authorisation: %+v", ev)
	}
	if !strings.Contains(ev.Markdown(), "| Authorised by | not authorised |") {
		t.Fatal("Markdown claims an authorisation")
	}
	ev = audit.Export(history(t, 48*time.Hour), "no-such-release")
	if len(ev.Timeline) != 0 || ev.DeadlineStatus != audit.DeadlineNone || !strings.Contains(ev.Markdown(), "No records about this release.") {
		t.Fatalf("unknown release: %+v", ev)
	}
	// An installation with no authorisation before it is flagged.
	recs := history(t, 0, audit.Entry{Time: t0.Add(5 * time.Hour), Actor: "node", Event: audit.EventInstalled, Release: "other-1.0", Device: "plc-7"})
	if ev := audit.Export(recs, "other-1.0"); len(ev.Problems) != 1 || !strings.Contains(ev.Problems[0], "no authorisation") {
		t.Fatalf("problems %v", ev.Problems)
	}
}
