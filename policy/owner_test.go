package policy

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zoneinfo

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

const examplePolicyFile = "testdata/owner-policy.yaml"

func loadExamplePolicy(t testing.TB) *OwnerPolicy {
	t.Helper()
	data, err := os.ReadFile(examplePolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseOwnerPolicy(data)
	if err != nil {
		t.Fatalf("%s: %v", examplePolicyFile, err)
	}
	return p
}

func TestParseOwnerPolicyExample(t *testing.T) {
	p := loadExamplePolicy(t)
	if p.Version != 1 || p.Fleet != "acme-plant-3" || !slices.Equal(p.OperatorKeys, []string{"operator.pub"}) {
		t.Errorf("header: version %d, fleet %q, operator keys %v", p.Version, p.Fleet, p.OperatorKeys)
	}
	wantZones := []Zone{
		{Name: "cell-1", TargetSL: 2, Description: "packaging line cell, PLCs and drives"},
		{Name: "supervisory", TargetSL: 3, Description: "HMIs and engineering stations"},
	}
	if !reflect.DeepEqual(p.Zones, wantZones) {
		t.Errorf("zones %+v, want %+v", p.Zones, wantZones)
	}
	type groupView struct {
		name, zone string
		safety     bool
		windows    []string
		tz         string
	}
	var got []groupView
	for _, g := range p.Groups {
		v := groupView{name: g.Name, zone: g.Zone, safety: g.SafetyRelated, tz: g.Timezone}
		if g.Location == nil || g.Location.String() != g.Timezone {
			t.Errorf("group %s: location %v, timezone %q", g.Name, g.Location, g.Timezone)
		}
		for _, w := range g.Windows {
			v.windows = append(v.windows, w.String())
			if w.Location != g.Location {
				t.Errorf("group %s: window %s in %v, not the group's %v", g.Name, w, w.Location, g.Location)
			}
		}
		got = append(got, v)
	}
	want := []groupView{
		{"line-a-plcs", "cell-1", true, []string{"Sat 02:00-06:00"}, "Europe/Berlin"},
		{"line-b-hmis", "supervisory", false, []string{"Mon,Tue,Wed,Thu,Fri 22:00-02:00", "Sun 00:00-24:00"}, "Europe/Berlin"},
		{"historians", "supervisory", false, nil, "UTC"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups\n got %+v\nwant %+v", got, want)
	}
	wantRules := []AutoRule{
		{MinSeverity: "HIGH", Groups: []string{"line-b-hmis"}, Line: 49},
		{MinSeverity: "CRITICAL", Line: 51},
	}
	if !reflect.DeepEqual(p.AutoAuthorise, wantRules) {
		t.Errorf("rules %+v, want %+v", p.AutoAuthorise, wantRules)
	}
	plan, err := p.Rollout.Plan()
	if err != nil || !slices.Equal(plan, []float64{0.05, 0.25, 1}) || p.Rollout.Soak != 24*time.Hour ||
		p.Rollout.FailureThreshold != 0.1 || p.Rollout.MinFailures != 1 {
		t.Errorf("rollout %+v (plan %v, %v)", p.Rollout, plan, err)
	}
	if g, ok := p.Group("historians"); !ok || g.Zone != "supervisory" {
		t.Errorf("Group(historians) = %+v, %v", g, ok)
	}
	if _, ok := p.Group("nope"); ok {
		t.Error("Group(nope) found")
	}
}

const minimalPolicy = `version: 1
zones:
  - name: z
    target_sl: 1
groups:
  - name: g
    zone: z
`

func TestParseOwnerPolicyDefaults(t *testing.T) {
	for _, c := range []struct {
		name    string
		rollout string
		want    Rollout
	}{
		{"no rollout", "", DefaultRollout()},
		{"empty rollout", "rollout: {}\n", DefaultRollout()},
		{"canary only", "rollout:\n  canary_share: 0.1\n", Rollout{CanaryShare: 0.1, Soak: 24 * time.Hour, FailureThreshold: 0.1, MinFailures: 1}},
		{"waves only", "rollout:\n  waves: [0.5, 1]\n", Rollout{Waves: []float64{0.5, 1}, Soak: 24 * time.Hour, FailureThreshold: 0.1, MinFailures: 1}},
		{"all set", "rollout:\n  canary_share: 0.01\n  waves: [0.01, 0.1, 1]\n  soak: 90m\n  failure_threshold: 0\n  min_failures: 5\n",
			Rollout{CanaryShare: 0.01, Waves: []float64{0.01, 0.1, 1}, Soak: 90 * time.Minute, FailureThreshold: 0, MinFailures: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseOwnerPolicy([]byte(minimalPolicy + c.rollout))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Rollout, c.want) {
				t.Errorf("rollout %+v, want %+v", p.Rollout, c.want)
			}
			g := p.Groups[0]
			if g.SafetyRelated || len(g.Windows) != 0 || g.Timezone != "UTC" || g.Location != time.UTC {
				t.Errorf("group defaults %+v", g)
			}
			if p.Fleet != "" || p.OperatorKeys != nil || p.AutoAuthorise != nil {
				t.Errorf("policy defaults %+v", p)
			}
		})
	}
}

// base is a valid policy; the error cases below are edits of it, written
// out in full so that line numbers can be read off.
const base = `version: 1
zones:
  - name: cell-1
    target_sl: 2
groups:
  - name: plcs
    zone: cell-1
    safety_related: true
  - name: hmis
    zone: cell-1
    windows: ["Sat 02:00-06:00"]
    timezone: Europe/Berlin
auto_authorise:
  - min_severity: HIGH
rollout:
  soak: 24h
`

func TestParseOwnerPolicyErrors(t *testing.T) {
	if _, err := ParseOwnerPolicy([]byte(base)); err != nil {
		t.Fatalf("base policy: %v", err)
	}
	for _, c := range []struct {
		name string
		file string
		line int // 0: no line
		want string
	}{
		{"yaml syntax: bad indentation", `version: 1
zones:
  - name: cell-1
    target_sl: 2
   bad: x
`, 5, "YAML syntax"},
		{"yaml syntax: tab", "version: 1\nzones:\n  - name: a\n    target_sl: 2\n\tx: 1\n", 5, "tab character"},
		{"yaml syntax: unclosed quote", "version: 1\nfleet: \"acme\nzones: []\n", 2, "YAML syntax"},
		{"yaml syntax: first line", "version: 1: 2\n", 1, "YAML syntax"},
		{"second document", base + "---\nversion: 1\n", 17, "second YAML document"},
		{"empty file", "# nothing\n", 0, "empty"},
		{"not a mapping", "- version: 1\n", 1, "must be a mapping"},
		{"unknown top-level key", strings.Replace(base, "rollout:", "rollouts:", 1), 15, `unknown key "rollouts"`},
		{"unknown group key", strings.Replace(base, "    windows:", "    windws:", 1), 11, `unknown key "windws" in group "hmis"`},
		{"unknown rollout key", base + "  canary: 0.1\n", 17, `unknown key "canary" in rollout`},
		{"duplicate key", strings.Replace(base, "    safety_related: true\n", "    safety_related: true\n    safety_related: false\n", 1), 9, `duplicate key "safety_related"`},
		{"missing version", strings.Replace(base, "version: 1\n", "", 1), 1, `missing required key "version"`},
		{"version 2", strings.Replace(base, "version: 1", "version: 2", 1), 1, "version 2 is not supported"},
		{"version not a number", strings.Replace(base, "version: 1", "version: one", 1), 1, "whole number"},
		{"no zones", strings.Replace(base, "zones:\n  - name: cell-1\n    target_sl: 2\n", "zones: []\n", 1), 2, "at least one zone"},
		{"target_sl out of range", strings.Replace(base, "target_sl: 2", "target_sl: 5", 1), 4, "target_sl 5 out of range"},
		{"target_sl not a number", strings.Replace(base, "target_sl: 2", "target_sl: high", 1), 4, "whole number"},
		{"missing target_sl", strings.Replace(base, "    target_sl: 2\n", "", 1), 3, `missing required key "target_sl"`},
		{"duplicate zone", strings.Replace(base, "    target_sl: 2\n", "    target_sl: 2\n  - name: cell-1\n    target_sl: 3\n", 1), 5, `duplicate zone "cell-1" (first defined at line 3)`},
		{"unknown zone", strings.Replace(base, "    zone: cell-1\n    windows", "    zone: cell-9\n    windows", 1), 10, `unknown zone "cell-9"`},
		{"group without zone", strings.Replace(base, "    zone: cell-1\n    safety", "    safety", 1), 6, `missing required key "zone"`},
		{"duplicate group", strings.Replace(base, "name: hmis", "name: plcs", 1), 9, `duplicate group "plcs" (first defined at line 6)`},
		{"bad group name", strings.Replace(base, "name: hmis", "name: line b", 1), 9, `group name "line b"`},
		{"safety_related not a bool", strings.Replace(base, "safety_related: true", "safety_related: maybe", 1), 8, "true or false"},
		{"bad window", strings.Replace(base, `windows: ["Sat 02:00-06:00"]`, "windows:\n      - Sat 02:00-06:00\n      - Caturday 02:00-06:00", 1), 13, `unknown day "Caturday"`},
		{"bad window time", strings.Replace(base, `"Sat 02:00-06:00"`, `"Sat 02:00-26:00"`, 1), 11, "invalid maintenance window"},
		{"windows not a list", strings.Replace(base, `["Sat 02:00-06:00"]`, `Sat 02:00-06:00`, 1), 11, "windows must be a list"},
		{"bad timezone", strings.Replace(base, "Europe/Berlin", "Europe/Berlinn", 1), 12, `unknown time zone "Europe/Berlinn"`},
		{"local timezone", strings.Replace(base, "Europe/Berlin", "Local", 1), 12, `time zone "Local"`},
		{"bad severity", strings.Replace(base, "min_severity: HIGH", "min_severity: SEVERE", 1), 14, `unknown severity "SEVERE"`},
		{"rule without severity", strings.Replace(base, "  - min_severity: HIGH\n", "  - groups: [hmis]\n", 1), 14, `missing required key "min_severity"`},
		{"rule names unknown group", strings.Replace(base, "  - min_severity: HIGH\n", "  - min_severity: HIGH\n    groups:\n      - hmis\n      - scada\n", 1), 17, `unknown group "scada"`},
		{"rule names safety group", strings.Replace(base, "  - min_severity: HIGH\n", "  - min_severity: HIGH\n    groups: [hmis, plcs]\n", 1), 15, `group "plcs" is safety-related and is never auto-authorised`},
		{"rule with empty groups", strings.Replace(base, "  - min_severity: HIGH\n", "  - min_severity: HIGH\n    groups: []\n", 1), 15, "groups is empty"},
		{"threshold out of range", base + "  failure_threshold: 1.5\n", 17, "failure_threshold 1.5 out of range"},
		{"threshold negative", base + "  failure_threshold: -0.1\n", 17, "failure_threshold -0.1 out of range"},
		{"threshold not a number", base + "  failure_threshold: ten percent\n", 17, "must be a number"},
		{"bad soak", strings.Replace(base, "soak: 24h", "soak: one day", 1), 16, `soak "one day" is not a duration`},
		{"negative soak", strings.Replace(base, "soak: 24h", "soak: -1h", 1), 16, "soak -1h0m0s is negative"},
		{"waves not increasing", base + "  waves:\n    - 0.1\n    - 0.1\n    - 1\n", 19, "wave 1 share 0.1 is not above wave 0"},
		{"last wave not 1", base + "  waves: [0.1, 0.5]\n", 17, "last wave share 0.5 must be 1"},
		{"wave out of range", base + "  waves: [0, 1]\n", 17, "wave 0 share 0 out of range"},
		{"canary differs from first wave", base + "  canary_share: 0.2\n  waves: [0.1, 1]\n", 17, "canary_share 0.2 differs from the first wave 0.1"},
		{"canary out of range", base + "  canary_share: 1.5\n", 17, "canary_share 1.5 out of range"},
		{"negative min_failures", base + "  min_failures: -1\n", 17, "min_failures -1 is negative"},
		{"alias", base + "  waves: &w [0.1, 1]\nfleet: *w\n", 18, "fleet: YAML aliases are not supported"},
		{"operator keys listed twice", base + "operator_keys: [a.pub, a.pub]\n", 17, `"a.pub" is listed twice`},
		{"groups is a mapping", "version: 1\nzones:\n  - name: z\n    target_sl: 1\ngroups:\n  name: g\n  zone: z\n", 6, "groups must be a list, not a mapping"},
		{"zone is a list", strings.Replace(base, "  - name: cell-1\n    target_sl: 2\n", "  - [cell-1, 2]\n", 1), 3, "zone 1 must be a mapping"},
		{"unknown zone key names the zone", strings.Replace(base, "target_sl: 2", "target_sl: 2\n    sl: 2", 1), 5, `unknown key "sl" in zone "cell-1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseOwnerPolicy([]byte(c.file))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", p)
			}
			if p != nil {
				t.Errorf("policy %+v returned with error", p)
			}
			if !errors.Is(err, ErrPolicyFile) {
				t.Errorf("error %v does not wrap ErrPolicyFile", err)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FileError", err, err)
			}
			msg := err.Error()
			if fe.Line != c.line {
				t.Errorf("error %q at line %d, want line %d", msg, fe.Line, c.line)
			}
			if c.line > 0 && !strings.Contains(msg, fmt.Sprintf("line %d: ", c.line)) {
				t.Errorf("error %q does not name line %d", msg, c.line)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not mention %q", msg, c.want)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

func TestParseOwnerPolicyTooLarge(t *testing.T) {
	big := []byte(base + "# " + strings.Repeat("x", MaxPolicyFileSize) + "\n")
	if _, err := ParseOwnerPolicy(big); !errors.Is(err, ErrPolicyFile) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized file: %v", err)
	}
}

var (
	published = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	issued    = time.Date(2025, 3, 3, 14, 30, 0, 0, time.UTC)
)

const release = "acme-plc@2.1.0"

func sampleAdvisory(severity string) trust.Advisory {
	return trust.Advisory{
		ID: "ACME-SA-2025-001", Product: "acme-plc", FixedVersion: "2.1.0",
		ReleaseID: release, Severity: severity, Published: published, Seq: 1,
	}
}

func decision(action, group, sia string, seq uint64) trust.Decision {
	return trust.Decision{
		Action: action, Release: release, Group: group, SIA: sia, Seq: seq,
		Issued: issued.Add(time.Duration(seq) * time.Minute),
	}
}

func TestAuthorise(t *testing.T) {
	p := loadExamplePolicy(t)
	// A hand-built policy whose auto rule lists a safety-related group, which
	// the parser refuses: Authorise must still not auto-authorise it.
	handBuilt := &OwnerPolicy{
		Zones:         []Zone{{Name: "z", TargetSL: 2}},
		Groups:        []Group{{Name: "safe", Zone: "z", SafetyRelated: true}},
		AutoAuthorise: []AutoRule{{MinSeverity: "NONE", Groups: []string{"safe"}}},
		Rollout:       DefaultRollout(),
	}
	const (
		authorise = trust.DecisionAuthorise
		reject    = trust.DecisionReject
	)
	other := decision(authorise, "", "", 50)
	other.Release = "acme-plc@2.0.9"
	noSeverity := sampleAdvisory("")
	scoreOnly := sampleAdvisory("")
	scoreOnly.BaseScore = 9.8

	type want struct {
		state  State
		by     string
		seq    uint64
		sia    string
		reason string
	}
	for _, c := range []struct {
		name      string
		p         *OwnerPolicy
		group     string
		adv       trust.Advisory
		decisions []trust.Decision
		want      want
	}{
		// Automatic authorisation, first matching rule wins.
		{"auto: rule 1 covers hmis at HIGH", p, "line-b-hmis", sampleAdvisory("HIGH"), nil,
			want{StateAuthorised, ByAuto, 0, "", "auto_authorise rule 1 (line 49): severity HIGH is at least HIGH"}},
		{"auto: rule 1 wins over rule 2 at CRITICAL", p, "line-b-hmis", sampleAdvisory("CRITICAL"), nil,
			want{StateAuthorised, ByAuto, 0, "", "auto_authorise rule 1 (line 49)"}},
		{"auto: rule 2 covers every group at CRITICAL", p, "historians", sampleAdvisory("critical"), nil,
			want{StateAuthorised, ByAuto, 0, "", "auto_authorise rule 2 (line 51): severity CRITICAL"}},
		{"auto: HIGH not covered for historians", p, "historians", sampleAdvisory("HIGH"), nil,
			want{StateInInternalTest, "", 0, "", "no auto_authorise rule covers severity HIGH for group historians"}},
		{"auto: MEDIUM below every rule", p, "line-b-hmis", sampleAdvisory("MEDIUM"), nil,
			want{StateInInternalTest, "", 0, "", "awaiting an operator decision"}},
		{"auto: severity from the base score", p, "historians", scoreOnly, nil,
			want{StateAuthorised, ByAuto, 0, "", "severity CRITICAL"}},
		{"auto: no severity, no rule", p, "historians", noSeverity, nil,
			want{StateInInternalTest, "", 0, "", "the advisory has no severity"}},
		{"auto: never for a safety-related group", p, "line-a-plcs", sampleAdvisory("CRITICAL"), nil,
			want{StateInInternalTest, "", 0, "", "never auto-authorised"}},
		{"auto: never for a safety-related group, even if a rule lists it", handBuilt, "safe", sampleAdvisory("CRITICAL"), nil,
			want{StateInInternalTest, "", 0, "", "never auto-authorised"}},

		// Operator decisions.
		{"operator authorises all groups", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "", "", 3)},
			want{StateAuthorised, ByOperator, 3, "", "authorised by operator decision 3 for all groups"}},
		{"operator authorises the group", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "historians", "", 3)},
			want{StateAuthorised, ByOperator, 3, "", "decision 3 for group historians"}},
		{"operator rejects: beats the auto rule", p, "line-b-hmis", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(reject, "line-b-hmis", "", 1)},
			want{StateNotAuthorised, ByOperator, 1, "", "rejected by operator decision 1 for group line-b-hmis"}},
		{"decision for another release ignored", p, "historians", sampleAdvisory("CRITICAL"),
			[]trust.Decision{other},
			want{StateAuthorised, ByAuto, 0, "", "auto_authorise rule 2"}},
		{"decision for another group ignored", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "line-b-hmis", "", 9)},
			want{StateInInternalTest, "", 0, "", "awaiting an operator decision"}},
		{"highest seq wins: later all-groups authorise over group reject", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(reject, "historians", "", 3), decision(authorise, "", "", 5)},
			want{StateAuthorised, ByOperator, 5, "", "decision 5 for all groups"}},
		{"highest seq wins: later all-groups reject over group authorise", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "historians", "", 6), decision(reject, "", "", 7), decision(authorise, "", "", 2)},
			want{StateNotAuthorised, ByOperator, 7, "", "decision 7 for all groups"}},
		{"highest seq wins: later group reject over all-groups authorise", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "", "", 4), decision(reject, "historians", "", 8)},
			want{StateNotAuthorised, ByOperator, 8, "", "decision 8 for group historians"}},
		{"equal seq: reject wins", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "historians", "", 4), decision(reject, "", "", 4)},
			want{StateNotAuthorised, ByOperator, 4, "", "rejected"}},

		{"equal seq, same action: the group-specific decision wins", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "", "", 4), decision(authorise, "line-a-plcs", "SIA-1", 4)},
			want{StateAuthorised, ByOperator, 4, "SIA-1", "decision 4 for group line-a-plcs"}},

		// Safety-related groups (IEC TR 63069).
		{"safety: authorise without SIA waits", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "", "", 2)},
			want{StateInInternalTest, "", 2, "", "safety-related group needs a safety impact analysis reference"}},
		{"safety: blank SIA waits", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "line-a-plcs", "  ", 2)},
			want{StateInInternalTest, "", 2, "", "safety-related group needs a safety impact analysis reference"}},
		{"safety: authorise with SIA", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "line-a-plcs", "SIA-2025-017", 2)},
			want{StateAuthorised, ByOperator, 2, "SIA-2025-017", "SIA SIA-2025-017"}},
		{"safety: a newer authorise without SIA supersedes one with", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "line-a-plcs", "SIA-2025-017", 2), decision(authorise, "", "", 3)},
			want{StateInInternalTest, "", 3, "", "safety-related group needs a safety impact analysis reference"}},
		{"safety: SIA not needed elsewhere", p, "historians", sampleAdvisory("LOW"),
			[]trust.Decision{decision(authorise, "", "", 2)},
			want{StateAuthorised, ByOperator, 2, "", "authorised by operator"}},
		{"safety: reject needs no SIA", p, "line-a-plcs", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(reject, "", "", 2)},
			want{StateNotAuthorised, ByOperator, 2, "", "rejected"}},

		// Fail safe.
		{"unknown group", p, "scada", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision(authorise, "", "", 2)},
			want{StateInInternalTest, "", 0, "", `device group "scada" is not defined`}},
		{"unknown action", p, "historians", sampleAdvisory("CRITICAL"),
			[]trust.Decision{decision("defer", "", "", 2), decision(authorise, "", "", 1)},
			want{StateInInternalTest, "", 2, "", `unknown action "defer"`}},
		{"no policy", nil, "historians", sampleAdvisory("CRITICAL"), nil,
			want{StateInInternalTest, "", 0, "", "no owner policy"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Authorise(c.p, c.group, c.adv, c.decisions)
			got := want{a.State, a.By, a.Seq, a.SIA, a.Reason}
			if got.state != c.want.state || got.by != c.want.by || got.seq != c.want.seq || got.sia != c.want.sia || !strings.Contains(got.reason, c.want.reason) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
			if a.Auto != (a.By == ByAuto) {
				t.Errorf("Auto %v with By %q", a.Auto, a.By)
			}
			switch a.By {
			case ByAuto:
				if !a.At.Equal(c.adv.Published) {
					t.Errorf("auto At %v, want the advisory's published %v", a.At, c.adv.Published)
				}
			case ByOperator:
				if want := issued.Add(time.Duration(a.Seq) * time.Minute); !a.At.Equal(want) {
					t.Errorf("operator At %v, want the decision's issued %v", a.At, want)
				}
			default:
				if !a.At.IsZero() {
					t.Errorf("undecided At %v, want zero", a.At)
				}
			}
			if strings.ContainsAny(a.Reason, "\r\n") || a.Reason == "" {
				t.Errorf("reason %q is not one line", a.Reason)
			}
			// The order of the decisions does not matter.
			rev := slices.Clone(c.decisions)
			slices.Reverse(rev)
			if b := Authorise(c.p, c.group, c.adv, rev); b != a {
				t.Errorf("reversed decisions: %+v, want %+v", b, a)
			}
		})
	}
}

func TestAuthoriseReasonIsOneLine(t *testing.T) {
	p := loadExamplePolicy(t)
	d := decision(trust.DecisionReject, "", "", 1)
	d.Reason = "breaks the\nline-b HMI\r\nfont rendering"
	a := Authorise(p, "historians", sampleAdvisory("HIGH"), []trust.Decision{d})
	if a.State != StateNotAuthorised || !strings.HasSuffix(a.Reason, ": breaks the line-b HMI font rendering") {
		t.Errorf("%+v", a)
	}
}

// deviceInWave returns a device id whose wave for release is wave.
func deviceInWave(t *testing.T, wave int, plan []float64) string {
	t.Helper()
	for i := range 10000 {
		id := fmt.Sprintf("dev-%04d", i)
		if WaveOf(id, release, plan) == wave {
			return id
		}
	}
	t.Fatalf("no device in wave %d", wave)
	return ""
}

func TestInstallGate(t *testing.T) {
	p := loadExamplePolicy(t)
	plan, err := p.Rollout.Plan()
	if err != nil {
		t.Fatal(err)
	}
	wave0, wave2 := deviceInWave(t, 0, plan), deviceInWave(t, 2, plan)
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// Authorised long ago: every wave is open.
	long := func(now time.Time) Authorisation {
		return Authorisation{State: StateAuthorised, By: ByOperator, At: now.Add(-30 * 24 * time.Hour)}
	}
	for _, c := range []struct {
		name   string
		group  string
		device string
		auth   func(now time.Time) Authorisation
		prior  []WaveStats
		now    string
		ok     bool
		reason string
	}{
		// 2025-03-08 is a Saturday; Berlin is UTC+1 until 30 March, UTC+2 after.
		{"inside window, Berlin winter", "line-a-plcs", wave2, long, nil, "2025-03-08T01:30:00Z", true,
			"inside maintenance window Sat 02:00-06:00 Europe/Berlin"},
		{"outside window: 06:30 in Berlin though 05:30 UTC", "line-a-plcs", wave2, long, nil, "2025-03-08T05:30:00Z", false,
			"outside maintenance window Sat 02:00-06:00 Europe/Berlin; next opens Sat 2025-03-15 02:00 CET"},
		{"outside window: 01:30 in Berlin", "line-a-plcs", wave0, long, nil, "2025-03-08T00:30:00Z", false,
			"outside maintenance window Sat 02:00-06:00 Europe/Berlin; next opens Sat 2025-03-08 02:00 CET"},
		{"inside window, Berlin summer", "line-a-plcs", wave0, long, nil, "2025-07-05T00:30:00Z", true,
			"inside maintenance window"},
		{"outside window, Berlin summer", "line-a-plcs", wave0, long, nil, "2025-07-05T04:30:00Z", false,
			"next opens Sat 2025-07-12 02:00 CEST"},
		{"window over midnight: Friday 23:00", "line-b-hmis", wave0, long, nil, "2025-03-07T22:00:00Z", true,
			"inside maintenance window Mon,Tue,Wed,Thu,Fri 22:00-02:00"},
		{"window over midnight: Saturday 01:00", "line-b-hmis", wave0, long, nil, "2025-03-08T00:00:00Z", true,
			"inside maintenance window Mon,Tue,Wed,Thu,Fri 22:00-02:00"},
		{"two windows, both closed", "line-b-hmis", wave0, long, nil, "2025-03-08T02:00:00Z", false,
			"outside maintenance windows Mon,Tue,Wed,Thu,Fri 22:00-02:00, Sun 00:00-24:00 Europe/Berlin; next opens Sun 2025-03-09 00:00 CET"},
		{"second window open", "line-b-hmis", wave0, long, nil, "2025-03-09T12:00:00Z", true,
			"inside maintenance window Sun 00:00-24:00"},
		{"no windows: any time", "historians", wave2, long, nil, "2025-03-05T12:00:00Z", true,
			"no maintenance window, any time"},

		// Waves.
		{"wave 0 open at authorisation", "historians", wave0,
			func(now time.Time) Authorisation { return Authorisation{State: StateAuthorised, At: now} }, nil,
			"2025-03-05T12:00:00Z", true, "wave 0 open since 2025-03-05T12:00:00Z"},
		{"wave 2 not yet open", "historians", wave2,
			func(now time.Time) Authorisation {
				return Authorisation{State: StateAuthorised, At: now.Add(-time.Hour)}
			}, nil,
			"2025-03-05T12:00:00Z", false, "wave 2 opens at 2025-03-07T11:00:00Z"},
		{"wave 2 open after two soaks", "historians", wave2,
			func(now time.Time) Authorisation {
				return Authorisation{State: StateAuthorised, At: now.Add(-48 * time.Hour)}
			},
			[]WaveStats{{Attempted: 20, Failed: 0}, {Attempted: 100, Failed: 2}},
			"2025-03-05T12:00:00Z", true, "wave 2 open since"},
		{"wave not open is reported before the window", "line-a-plcs", wave2,
			func(now time.Time) Authorisation {
				return Authorisation{State: StateAuthorised, At: now.Add(-time.Hour)}
			}, nil,
			"2025-03-08T05:30:00Z", false, "wave 2 opens at"},
		{"halted by the canary", "historians", wave2, long,
			[]WaveStats{{Attempted: 1, Failed: 1}},
			"2025-03-05T12:00:00Z", false, "rollout halted: wave 0 failed 1 of 1 installations"},
		{"halted closes wave 0 too", "line-a-plcs", wave0, long,
			[]WaveStats{{Attempted: 10, Failed: 0}, {Attempted: 10, Failed: 3}},
			"2025-03-08T01:30:00Z", false, "rollout halted: wave 1 failed 3 of 10"},

		// Authorisation and group.
		{"in internal test", "historians", wave0,
			func(time.Time) Authorisation {
				return Authorisation{State: StateInInternalTest, Reason: "awaiting an operator decision"}
			}, nil,
			"2025-03-05T12:00:00Z", false, "not authorised (in-internal-test): awaiting an operator decision"},
		{"rejected", "historians", wave0,
			func(now time.Time) Authorisation {
				return Authorisation{State: StateNotAuthorised, At: now.Add(-30 * 24 * time.Hour), Reason: "rejected"}
			}, nil,
			"2025-03-05T12:00:00Z", false, "not authorised (not-authorised)"},
		{"unknown group", "scada", wave0, long, nil, "2025-03-05T12:00:00Z", false, `device group "scada" is not defined`},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := utc(c.now)
			ok, reason := InstallGate(p, c.group, c.device, release, c.auth(now), c.prior, now)
			if ok != c.ok || !strings.Contains(reason, c.reason) {
				t.Errorf("InstallGate = %v, %q; want %v, containing %q", ok, reason, c.ok, c.reason)
			}
			if strings.ContainsAny(reason, "\r\n") {
				t.Errorf("reason %q is not one line", reason)
			}
		})
	}
	if ok, reason := InstallGate(nil, "historians", wave0, release, long(published), nil, published); ok || reason != "no owner policy" {
		t.Errorf("nil policy: %v, %q", ok, reason)
	}
}

func TestOwnerMandatory(t *testing.T) {
	p := loadExamplePolicy(t)
	for _, c := range []struct {
		group, severity string
		want            bool
		err             error
	}{
		{"line-a-plcs", "HIGH", true, nil}, // cell-1, SL2
		{"line-a-plcs", "MEDIUM", false, nil},
		{"historians", "MEDIUM", true, nil}, // supervisory, SL3
		{"historians", "LOW", false, nil},
		{"historians", "none", false, nil},
		{"scada", "HIGH", false, ErrUnknownGroup},
		{"historians", "SEVERE", false, ErrUnknownSeverity},
	} {
		got, err := p.Mandatory(c.group, c.severity)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("Mandatory(%s, %s) = %v, %v; want %v, %v", c.group, c.severity, got, err, c.want, c.err)
		}
	}
}

func TestSample(t *testing.T) {
	p := loadExamplePolicy(t)
	out := Sample(p, sampleAdvisory("CRITICAL"))
	type view struct {
		group, zone string
		sl          int
		mandatory   bool
		state       State
		by          string
	}
	var got []view
	for _, o := range out {
		got = append(got, view{o.Group.Name, o.Zone.Name, o.Zone.TargetSL, o.Mandatory, o.Authorisation.State, o.Authorisation.By})
		if o.Severity != "CRITICAL" {
			t.Errorf("%s: severity %q", o.Group.Name, o.Severity)
		}
	}
	want := []view{
		{"line-a-plcs", "cell-1", 2, true, StateInInternalTest, ""},
		{"line-b-hmis", "supervisory", 3, true, StateAuthorised, ByAuto},
		{"historians", "supervisory", 3, true, StateAuthorised, ByAuto},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sample\n got %+v\nwant %+v", got, want)
	}
	low := Sample(p, sampleAdvisory("LOW"))
	if len(low) != 3 || low[0].Mandatory || low[2].Mandatory {
		t.Errorf("LOW sample %+v", low)
	}
	if unknown := Sample(p, sampleAdvisory("")); unknown[0].Severity != "" || unknown[0].Mandatory {
		t.Errorf("no-severity sample %+v", unknown[0])
	}
}

func TestNextWindowOpen(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWindow("Sun 02:30-03:30", berlin)
	if err != nil {
		t.Fatal(err)
	}
	// 30 March 2025: clocks go from 02:00 to 03:00 in Berlin, so 02:30 does
	// not exist; the next opening is where time.Date puts it (03:30 CEST).
	now := time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC)
	next, ok := NextWindowOpen([]Window{w}, now)
	if !ok || !next.Equal(time.Date(2025, 3, 30, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("next opening %v, %v", next, ok)
	}
	if _, ok := NextWindowOpen([]Window{{}}, now); ok {
		t.Error("an invalid window opens")
	}
}

func FuzzParseOwnerPolicy(f *testing.F) {
	data, err := os.ReadFile(examplePolicyFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(base))
	f.Add([]byte(minimalPolicy + "rollout:\n  waves: [0.5, 1]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseOwnerPolicy(data)
		if err != nil {
			var fe *FileError
			if p != nil || !errors.As(err, &fe) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("policy %v, error %v", p, err)
			}
			return
		}
		if err := p.Rollout.Validate(); err != nil || len(p.Groups) == 0 || len(p.Zones) == 0 {
			t.Fatalf("accepted an unusable policy: %+v (%v)", p, err)
		}
		for _, g := range p.Groups {
			if _, ok := p.Zone(g.Zone); !ok {
				t.Fatalf("group %s in undefined zone %s", g.Name, g.Zone)
			}
		}
	})
}

func TestParseOwnerPolicySyntaxErrorLargeFile(t *testing.T) {
	// Above the prefix-search bounds the line yaml.v3 gives is kept: still
	// a line, and no quadratic search.
	var sb strings.Builder
	sb.WriteString("version: 1\nzones:\n")
	for sb.Len() <= maxSyntaxSearchBytes {
		sb.WriteString("  - name: zone\n    target_sl: 2\n    description: " + strings.Repeat("x", 100) + "\n")
	}
	sb.WriteString("   bad: x\n")
	_, err := ParseOwnerPolicy([]byte(sb.String()))
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line == 0 || !strings.Contains(err.Error(), "YAML syntax") {
		t.Errorf("large file: %v", err)
	}
}
