package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Owner-policy errors.
var (
	// ErrPolicyFile is wrapped by every error ParseOwnerPolicy returns; the
	// concrete error is a *FileError carrying the line.
	ErrPolicyFile = errors.New("invalid policy file")
	// ErrUnknownGroup is returned for a device group the policy does not
	// define.
	ErrUnknownGroup = errors.New("unknown device group")
)

// MaxPolicyFileSize is the largest policy file ParseOwnerPolicy accepts.
const MaxPolicyFileSize = 1 << 20

// OwnerPolicyVersion is the only policy file version ParseOwnerPolicy reads.
const OwnerPolicyVersion = 1

// Who decided an Authorisation (Authorisation.By).
const (
	ByAuto     = "auto"
	ByOperator = "operator"
)

// FileError is a policy file error: the 1-based line of the offending key or
// value (0 when the YAML parser gave none) and what is wrong. It wraps
// ErrPolicyFile; Error() is one line, "invalid policy file: line N: ...".
type FileError struct {
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", ErrPolicyFile, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", ErrPolicyFile, e.Msg)
}

// Unwrap returns ErrPolicyFile.
func (e *FileError) Unwrap() error { return ErrPolicyFile }

// OwnerPolicy is the asset owner's policy: which device groups exist, in which
// zones at which target security level, when they may install, which releases
// they install without a human decision and how fast a release rolls out
// (IEC 62443-2-3 patch management; IEC TR 63069 for safety-related groups).
//
// The policy file is YAML, version 1. A complete, commented example is
// policy/testdata/owner-policy.yaml in the repository:
//
//	version: 1                       # required; the only version is 1
//	fleet: acme-plant-3              # optional name, shown in output
//	operator_keys: [operator.pub]    # public keys whose signed decisions count
//	zones:                           # at least one
//	  - name: cell-1
//	    target_sl: 2                 # required, 1..4
//	groups:                          # at least one
//	  - name: line-a-plcs
//	    zone: cell-1                 # required, a zone above
//	    safety_related: true         # default false
//	    windows: ["Sat 02:00-06:00"] # default: none, i.e. any time
//	    timezone: Europe/Berlin      # default UTC
//	auto_authorise:                  # default: none, every release waits for an operator
//	  - min_severity: HIGH
//	    groups: [line-b-hmis]        # default: every group that is not safety-related
//	rollout:                         # default: DefaultRollout()
//	  waves: [0.05, 0.25, 1.0]
//	  soak: 24h
//	  failure_threshold: 0.1
//	  min_failures: 1
//
// Parsing is strict: unknown keys, duplicate keys, values of the wrong type,
// references to undefined zones or groups and out-of-range values are errors
// that name the line of the offending key or value.
//
// Build it with ParseOwnerPolicy; a hand-built OwnerPolicy is used as it
// is, unchecked.
type OwnerPolicy struct {
	// Version is the file format version (YAML "version"), required, 1.
	Version int
	// Fleet names the fleet (YAML "fleet"); optional, for output only.
	Fleet string
	// OperatorKeys are the PEM public key files (YAML "operator_keys")
	// whose signed operator decisions (trust.Decision) the node accepts;
	// any one key suffices. Relative paths are relative to the policy
	// file's directory, as in the node configuration; this package does
	// not read them. Default none: no operator decision is accepted and
	// only auto_authorise rules authorise anything.
	OperatorKeys []string
	// Zones are the IEC 62443-3-2 zones (YAML "zones"), at least one, names
	// unique.
	Zones []Zone
	// Groups are the device groups (YAML "groups"), at least one, names
	// unique. A device names its group in its node configuration.
	Groups []Group
	// AutoAuthorise are the rules that authorise a release without an
	// operator decision (YAML "auto_authorise"), tried in order, the first
	// match wins. Default none.
	AutoAuthorise []AutoRule
	// Rollout is the staged rollout every release follows (YAML
	// "rollout"). Keys left out take their DefaultRollout values, except
	// that canary_share alone means the plan [canary_share, 1] and waves
	// alone take their first share as the canary.
	Rollout Rollout
}

// Zone is a security zone (IEC 62443-3-2) and its target security level.
type Zone struct {
	// Name (YAML "name"), required: 1-128 of A-Z a-z 0-9 . _ -, starting
	// with a letter or digit.
	Name string
	// TargetSL is the zone's target security level SL-T (YAML
	// "target_sl"), required, 1-4. It decides which severities are
	// mandatory to fix (see Mandatory).
	TargetSL int
	// Description (YAML "description"), optional free text.
	Description string
}

// Group is a set of devices that share a zone, a safety classification,
// maintenance windows and operator decisions.
type Group struct {
	// Name (YAML "name"), required, same characters as Zone.Name (and as
	// trust.Decision.Group, which names it).
	Name string
	// Zone is the zone the devices sit in (YAML "zone"), required, one of
	// the policy's zones.
	Zone string
	// SafetyRelated marks devices that carry out safety functions (YAML
	// "safety_related"), default false. Per IEC TR 63069 a change to them
	// needs a safety impact analysis: they are authorised only by an
	// operator decision carrying an SIA reference and never by an
	// auto_authorise rule.
	SafetyRelated bool
	// Windows are the weekly maintenance windows (YAML "windows", each a
	// ParseWindow spec such as "Sat 02:00-06:00" or "Mon-Fri 22:00-02:00")
	// in Location. Default none: installation at any time.
	Windows []Window
	// Timezone is the IANA time zone name of the windows (YAML "timezone"),
	// default "UTC". "Local" is refused: a policy means the same on every
	// node.
	Timezone string
	// Location is Timezone loaded; nil means UTC.
	Location *time.Location
	// Description (YAML "description"), optional free text.
	Description string
}

// AutoRule authorises a release without an operator decision.
type AutoRule struct {
	// MinSeverity (YAML "min_severity"), required: NONE, LOW, MEDIUM, HIGH
	// or CRITICAL (any case; stored upper-case). The rule matches an
	// advisory of this severity or higher; an advisory without a severity
	// matches no rule.
	MinSeverity string
	// Groups (YAML "groups") limits the rule to these groups; left out, the
	// rule covers every group. A safety-related group may not be listed,
	// and is never covered: safety-related groups are never
	// auto-authorised.
	Groups []string
	// Description (YAML "description"), optional free text.
	Description string
	// Line is the rule's line in the policy file, for reasons; 0 if built
	// by hand.
	Line int
}

// Group returns the group called name.
func (p *OwnerPolicy) Group(name string) (Group, bool) {
	if p == nil {
		return Group{}, false
	}
	for _, g := range p.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Zone returns the zone called name.
func (p *OwnerPolicy) Zone(name string) (Zone, bool) {
	if p == nil {
		return Zone{}, false
	}
	for _, z := range p.Zones {
		if z.Name == name {
			return z, true
		}
	}
	return Zone{}, false
}

// Mandatory reports whether fixing a vulnerability of the given CVSS
// severity is mandatory for the group's devices, from the target security
// level of the group's zone (see the package-level Mandatory). An unknown
// group is ErrUnknownGroup, a group whose zone is undefined ErrPolicyFile.
func (p *OwnerPolicy) Mandatory(group, severity string) (bool, error) {
	g, ok := p.Group(group)
	if !ok {
		return false, fmt.Errorf("policy: %w %q", ErrUnknownGroup, group)
	}
	z, ok := p.Zone(g.Zone)
	if !ok {
		return false, fmt.Errorf("policy: %w: group %q is in undefined zone %q", ErrPolicyFile, g.Name, g.Zone)
	}
	return Mandatory(z.TargetSL, severity)
}

// Authorisation is the asset owner's answer for one release on the devices
// of one group (the asset-owner side of the patch lifecycle).
type Authorisation struct {
	// State is StateAuthorised, StateNotAuthorised, or StateInInternalTest
	// while the release awaits a (usable) decision.
	State State
	// Reason is one line a person can read.
	Reason string
	// SIA is the safety impact analysis reference of the operator decision
	// that authorised the release ("" otherwise).
	SIA string
	// By is ByOperator or ByAuto when a decision was taken, "" while
	// waiting.
	By string
	// At is when the decision was taken: the operator decision's Issued, or
	// for an automatic authorisation the advisory's Published time. The
	// rollout's wave 0 opens at At. Zero while waiting.
	At time.Time
	// Auto is true for an authorisation by an auto_authorise rule.
	Auto bool
	// Seq is the sequence number of the operator decision that decided
	// (or that was not enough, for a safety-related group without an SIA
	// reference); 0 otherwise.
	Seq uint64
}

// advisorySeverity returns the advisory's CVSS severity, upper-case: its
// Severity, or the band of its BaseScore when Severity is empty and the
// score is above 0. ok is false when neither gives a known severity.
func advisorySeverity(adv trust.Advisory) (string, bool) {
	s := strings.ToUpper(strings.TrimSpace(adv.Severity))
	if s == "" && adv.BaseScore > 0 {
		s = SeverityFromScore(adv.BaseScore)
	}
	if _, err := severityRank(s); err != nil || s == "" {
		return "", false
	}
	return s, true
}

// actionRank orders decision actions for ties at equal Seq, most cautious
// first: reject, then anything unknown, then authorise.
func actionRank(action string) int {
	switch action {
	case trust.DecisionReject:
		return 2
	case trust.DecisionAuthorise:
		return 0
	}
	return 1
}

// beats reports whether decision a supersedes b: the higher Seq; at equal
// Seq the more cautious action, then the group-specific decision, then the
// later Issued, then (only so that the result never depends on the order of
// the input) the lexically smaller SIA and Reason.
func beats(a, b trust.Decision) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	if ra, rb := actionRank(a.Action), actionRank(b.Action); ra != rb {
		return ra > rb
	}
	if (a.Group != "") != (b.Group != "") {
		return a.Group != ""
	}
	if !a.Issued.Equal(b.Issued) {
		return a.Issued.After(b.Issued)
	}
	if a.SIA != b.SIA {
		return a.SIA < b.SIA
	}
	return a.Reason < b.Reason
}

// decisionScope describes whom a decision addresses.
func decisionScope(d trust.Decision) string {
	if d.Group == "" {
		return "all groups"
	}
	return "group " + d.Group
}

// Authorise decides whether the release adv points at (adv.ReleaseID) is
// authorised for the devices of group, from the operator decisions and the
// policy's auto_authorise rules:
//
//  1. Only decisions with Release == adv.ReleaseID and Group "" (every
//     group) or group count. Of those the one with the highest Seq wins,
//     whether it names the group or every group. At equal Seq a reject beats
//     an authorise and a group-specific decision an all-groups one.
//  2. A winning reject: StateNotAuthorised.
//  3. A winning authorise: StateAuthorised; for a safety-related group only
//     with a non-empty SIA reference, otherwise the release stays in
//     StateInInternalTest ("safety-related group needs a safety impact
//     analysis reference").
//  4. No decision: the first auto_authorise rule that matches (the
//     advisory's severity is at least MinSeverity, the group is listed or
//     the rule lists none, the group is not safety-related) authorises, By
//     ByAuto, At adv.Published.
//  5. Otherwise StateInInternalTest: awaiting an operator decision.
//
// An unknown group, or a winning decision with an unknown action, leaves the
// release in StateInInternalTest (fail safe). Decisions are assumed verified
// (trust.OpenDecision against the policy's operator keys); their order does
// not matter.
func Authorise(p *OwnerPolicy, group string, adv trust.Advisory, decisions []trust.Decision) Authorisation {
	wait := func(format string, args ...any) Authorisation {
		return Authorisation{State: StateInInternalTest, Reason: fmt.Sprintf(format, args...)}
	}
	if p == nil {
		return wait("no owner policy")
	}
	g, ok := p.Group(group)
	if !ok {
		return wait("device group %q is not defined in the owner policy", group)
	}
	var win *trust.Decision
	for i := range decisions {
		d := &decisions[i]
		if d.Release != adv.ReleaseID || (d.Group != "" && d.Group != group) {
			continue
		}
		if win == nil || beats(*d, *win) {
			win = d
		}
	}
	if win != nil {
		suffix := ""
		if r := oneLine(win.Reason); r != "" {
			suffix = ": " + r
		}
		switch win.Action {
		case trust.DecisionReject:
			return Authorisation{
				State:  StateNotAuthorised,
				Reason: fmt.Sprintf("rejected by operator decision %d for %s%s", win.Seq, decisionScope(*win), suffix),
				By:     ByOperator, At: win.Issued, Seq: win.Seq,
			}
		case trust.DecisionAuthorise:
			if g.SafetyRelated && strings.TrimSpace(win.SIA) == "" {
				a := wait("safety-related group needs a safety impact analysis reference (IEC TR 63069); operator decision %d for %s has none", win.Seq, decisionScope(*win))
				a.Seq = win.Seq
				return a
			}
			reason := fmt.Sprintf("authorised by operator decision %d for %s", win.Seq, decisionScope(*win))
			if win.SIA != "" {
				reason += ", SIA " + oneLine(win.SIA)
			}
			return Authorisation{
				State: StateAuthorised, Reason: reason + suffix, SIA: strings.TrimSpace(win.SIA),
				By: ByOperator, At: win.Issued, Seq: win.Seq,
			}
		default:
			a := wait("operator decision %d has unknown action %q; awaiting a valid decision", win.Seq, win.Action)
			a.Seq = win.Seq
			return a
		}
	}
	if g.SafetyRelated {
		return wait("safety-related group: awaiting an operator decision with a safety impact analysis reference (never auto-authorised)")
	}
	sev, ok := advisorySeverity(adv)
	if !ok {
		return wait("awaiting an operator decision: the advisory has no severity, so no auto_authorise rule applies")
	}
	rank, _ := severityRank(sev)
	for i, r := range p.AutoAuthorise {
		floor, err := severityRank(r.MinSeverity)
		if err != nil || rank < floor || (len(r.Groups) > 0 && !slices.Contains(r.Groups, group)) {
			continue
		}
		where := fmt.Sprintf("auto_authorise rule %d", i+1)
		if r.Line > 0 {
			where += fmt.Sprintf(" (line %d)", r.Line)
		}
		return Authorisation{
			State:  StateAuthorised,
			Reason: fmt.Sprintf("authorised automatically by %s: severity %s is at least %s", where, sev, strings.ToUpper(r.MinSeverity)),
			By:     ByAuto, At: adv.Published, Auto: true,
		}
	}
	return wait("awaiting an operator decision: no auto_authorise rule covers severity %s for group %s", sev, group)
}

// InstallGate decides whether device deviceID of group may install release
// releaseID now, given the group's authorisation and the installation
// outcomes of the rollout's waves so far (prior, index = wave). It checks, in
// this order, and gives the first reason that stops it (one line):
//
//  1. auth.State is StateAuthorised;
//  2. the group exists;
//  3. the device's wave, WaveOf(deviceID, releaseID, plan of p.Rollout), is
//     open: WaveOpen(auth.At, wave, p.Rollout, now, prior), which also
//     keeps every wave closed once the rollout is Halted;
//  4. now is inside one of the group's maintenance windows (any time when it
//     has none).
//
// ok is true only when all hold; reason then says which wave and window
// allowed it.
func InstallGate(p *OwnerPolicy, group, deviceID string, releaseID string, auth Authorisation, prior []WaveStats, now time.Time) (ok bool, reason string) {
	if p == nil {
		return false, "no owner policy"
	}
	if auth.State != StateAuthorised {
		r := "not authorised (" + auth.State.String() + ")"
		if auth.Reason != "" {
			r += ": " + auth.Reason
		}
		return false, r
	}
	g, found := p.Group(group)
	if !found {
		return false, fmt.Sprintf("device group %q is not defined in the owner policy", group)
	}
	plan, err := p.Rollout.Plan()
	if err != nil {
		return false, err.Error()
	}
	wave := WaveOf(deviceID, releaseID, plan)
	open, why := WaveOpen(auth.At, wave, p.Rollout, now, prior)
	if !open {
		return false, why
	}
	if len(g.Windows) == 0 {
		return true, why + "; no maintenance window, any time"
	}
	for _, w := range g.Windows {
		if InWindow(w, now) {
			return true, why + "; inside maintenance window " + w.String() + " " + g.zoneName()
		}
	}
	return false, WindowReason(g, now)
}

// zoneName is the group's time zone name for output.
func (g Group) zoneName() string {
	switch {
	case g.Timezone != "":
		return g.Timezone
	case g.Location != nil:
		return g.Location.String()
	}
	return "UTC"
}

// WindowReason describes the group's maintenance windows as seen at now, one
// line: "no maintenance window, any time", "inside maintenance window Sat
// 02:00-06:00 Europe/Berlin", or "outside maintenance window Sat 02:00-06:00
// Europe/Berlin; next opens Sat 2025-03-08 02:00 CET".
func WindowReason(g Group, now time.Time) string {
	if len(g.Windows) == 0 {
		return "no maintenance window, any time"
	}
	for _, w := range g.Windows {
		if InWindow(w, now) {
			return "inside maintenance window " + w.String() + " " + g.zoneName()
		}
	}
	specs := make([]string, len(g.Windows))
	for i, w := range g.Windows {
		specs[i] = w.String()
	}
	plural := ""
	if len(specs) > 1 {
		plural = "s"
	}
	r := fmt.Sprintf("outside maintenance window%s %s %s", plural, strings.Join(specs, ", "), g.zoneName())
	if next, ok := NextWindowOpen(g.Windows, now); ok {
		loc := g.Location
		if loc == nil {
			loc = time.UTC
		}
		r += "; next opens " + next.In(loc).Format("Mon 2006-01-02 15:04 MST")
	}
	return r
}

// NextWindowOpen returns the earliest time after now at which one of the
// windows opens, searching the coming eight days; ok is false when none
// does (no valid window). Around a DST change the opening is the wall time
// time.Date normalises to.
func NextWindowOpen(windows []Window, now time.Time) (next time.Time, ok bool) {
	for _, w := range windows {
		start, _, err := w.minutes()
		if err != nil {
			continue
		}
		loc := w.Location
		if loc == nil {
			loc = time.UTC
		}
		local := now.In(loc)
		for d := 0; d <= 8; d++ {
			t := time.Date(local.Year(), local.Month(), local.Day()+d, start/60, start%60, 0, 0, loc)
			day := time.Date(local.Year(), local.Month(), local.Day()+d, 12, 0, 0, 0, loc).Weekday()
			if !t.After(now) || !slices.Contains(w.Days, day) {
				continue
			}
			if !ok || t.Before(next) {
				next, ok = t, true
			}
			break
		}
	}
	return next, ok
}

// GroupOutcome is what would happen to an advisory's release in one group,
// without any operator decision: see Sample.
type GroupOutcome struct {
	Group Group
	// Zone is the group's zone (zero if undefined).
	Zone Zone
	// Severity is the advisory's severity, "" when it has none.
	Severity string
	// Mandatory reports whether the fix is mandatory at the zone's target
	// SL; false when Severity is "".
	Mandatory bool
	// Authorisation is Authorise(p, group, adv, nil).
	Authorisation Authorisation
}

// Sample returns, for each group in policy order, what the policy does with
// adv when no operator has decided yet: the zone, whether the fix is
// mandatory there and the authorisation. It is what `tocsin policy check`
// prints.
func Sample(p *OwnerPolicy, adv trust.Advisory) []GroupOutcome {
	if p == nil {
		return nil
	}
	sev, known := advisorySeverity(adv)
	out := make([]GroupOutcome, 0, len(p.Groups))
	for _, g := range p.Groups {
		o := GroupOutcome{Group: g, Authorisation: Authorise(p, g.Name, adv, nil)}
		o.Zone, _ = p.Zone(g.Zone)
		if known {
			o.Severity = sev
			o.Mandatory, _ = p.Mandatory(g.Name, sev)
		}
		out = append(out, o)
	}
	return out
}

// oneLine folds s onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ---- parsing ----

// reName is a zone or group name: what trust.Decision.Group accepts.
var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// reYAMLLine pulls the line out of a yaml.v3 syntax error.
var reYAMLLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// errAt returns a *FileError at n's line.
func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &FileError{Line: line, Msg: oneLine(fmt.Sprintf(format, args...))}
}

// splitYAMLError splits a yaml.v3 error into its line (0 if none) and
// message.
func splitYAMLError(err error) (int, string) {
	msg := oneLine(err.Error())
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// decodeYAML decodes the first YAML document of data into doc and checks
// that no second one follows. A syntax error is returned as it is; a
// second document as a *FileError.
func decodeYAML(data []byte, doc *yaml.Node) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(doc); err != nil {
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return errAt(&extra, "a second YAML document; a policy file holds one")
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// maxSyntaxSearchLines and maxSyntaxSearchBytes bound the prefix search in
// yamlError (at most that many parses of at most that many bytes).
const (
	maxSyntaxSearchLines = 500
	maxSyntaxSearchBytes = 32 << 10
)

// yamlError turns a yaml.v3 syntax error in data into a *FileError.
//
// yaml.v3 reports the line where the enclosing block starts (and no line at
// all for the first line), which can be far above the mistake. The line is
// therefore found again: the first prefix of data, in whole lines, that
// fails with the same message ends on the offending line (the search starts
// a line above the one yaml.v3 names, which is never below it). For files of more
// than maxSyntaxSearchLines lines or maxSyntaxSearchBytes bytes yaml.v3's
// line is kept.
func yamlError(data []byte, err error) error {
	line, msg := splitYAMLError(err)
	if len(data) <= maxSyntaxSearchBytes && bytes.Count(data, []byte("\n")) <= maxSyntaxSearchLines {
		n := 0
		for k, l := range bytes.SplitAfter(data, []byte("\n")) {
			n += len(l)
			if k+1 < line-1 {
				continue
			}
			var doc yaml.Node
			perr := decodeYAML(data[:n], &doc)
			var fe *FileError
			if perr == nil || errors.As(perr, &fe) {
				continue
			}
			if _, m := splitYAMLError(perr); m == msg {
				line = k + 1
				break
			}
		}
	}
	return &FileError{Line: line, Msg: "YAML syntax: " + msg}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a document"
}

// isNull reports whether n is absent or an explicit null (key with no value).
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// fields is one YAML mapping, checked against its known keys.
type fields struct {
	node *yaml.Node
	what string
	vals map[string]*yaml.Node
}

// itemLabel names the i-th (0-based) item of a list of kind ("group"): by
// its name when it is a mapping with a plain name, by its position
// otherwise.
func itemLabel(kind string, i int, n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && reName.MatchString(v.Value) {
				return fmt.Sprintf("%s %q", kind, v.Value)
			}
		}
	}
	return fmt.Sprintf("%s %d", kind, i+1)
}

// mapping checks that n is a mapping whose keys are all in known, each at
// most once, and returns its values.
func mapping(n *yaml.Node, what string, known ...string) (*fields, error) {
	if n.Kind == yaml.AliasNode {
		return nil, errAt(n, "%s: YAML aliases are not supported", what)
	}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a mapping (key: value lines), not %s", what, kindName(n))
	}
	f := &fields{node: n, what: what, vals: make(map[string]*yaml.Node, len(n.Content)/2)}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return nil, errAt(k, "%s: keys must be plain words (no aliases, merge keys or complex keys)", what)
		}
		if !slices.Contains(known, k.Value) {
			return nil, errAt(k, "unknown key %q in %s (known keys: %s)", k.Value, what, strings.Join(known, ", "))
		}
		if first, dup := lines[k.Value]; dup {
			return nil, errAt(k, "duplicate key %q in %s (first at line %d)", k.Value, what, first)
		}
		lines[k.Value] = k.Line
		f.vals[k.Value] = v
	}
	return f, nil
}

// get returns the value of key, nil when absent or empty.
func (f *fields) get(key string) *yaml.Node {
	if v := f.vals[key]; !isNull(v) {
		return v
	}
	return nil
}

// need returns the value of a required key.
func (f *fields) need(key string) (*yaml.Node, error) {
	if v := f.get(key); v != nil {
		return v, nil
	}
	if v, ok := f.vals[key]; ok {
		return nil, errAt(v, "%s: %q has no value", f.what, key)
	}
	return nil, errAt(f.node, "%s is missing required key %q", f.what, key)
}

func scalar(n *yaml.Node, what string) error {
	if n.Kind == yaml.AliasNode {
		return errAt(n, "%s: YAML aliases are not supported", what)
	}
	if n.Kind != yaml.ScalarNode {
		return errAt(n, "%s must be a single value, not %s", what, kindName(n))
	}
	return nil
}

func text(n *yaml.Node, what string) (string, error) {
	if err := scalar(n, what); err != nil {
		return "", err
	}
	return n.Value, nil
}

func integer(n *yaml.Node, what string) (int, error) {
	if err := scalar(n, what); err != nil {
		return 0, err
	}
	var i int
	if n.Tag != "!!int" || n.Decode(&i) != nil {
		return 0, errAt(n, "%s must be a whole number, not %s", what, kindName(n))
	}
	return i, nil
}

func boolean(n *yaml.Node, what string) (bool, error) {
	if err := scalar(n, what); err != nil {
		return false, err
	}
	var b bool
	if n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, errAt(n, "%s must be true or false, not %s", what, kindName(n))
	}
	return b, nil
}

func number(n *yaml.Node, what string) (float64, error) {
	if err := scalar(n, what); err != nil {
		return 0, err
	}
	var f float64
	if (n.Tag != "!!float" && n.Tag != "!!int") || n.Decode(&f) != nil {
		return 0, errAt(n, "%s must be a number, not %s", what, kindName(n))
	}
	return f, nil
}

// list checks that n is a sequence and returns its items.
func list(n *yaml.Node, what string) ([]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode {
		return nil, errAt(n, "%s: YAML aliases are not supported", what)
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "%s must be a list, not %s", what, kindName(n))
	}
	return n.Content, nil
}

// names reads a list of distinct non-empty words.
func names(n *yaml.Node, what string) ([]string, []*yaml.Node, error) {
	items, err := list(n, what)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, it := range items {
		s, err := text(it, what+" entry")
		if err != nil {
			return nil, nil, err
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil, errAt(it, "%s: empty entry", what)
		}
		if slices.Contains(out, s) {
			return nil, nil, errAt(it, "%s: %q is listed twice", what, s)
		}
		out = append(out, s)
	}
	return out, items, nil
}

func checkName(n *yaml.Node, s, what string) error {
	if !reName.MatchString(s) {
		return errAt(n, "%s %q: want 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit", what, s)
	}
	return nil
}

// ParseOwnerPolicy parses and checks an asset-owner policy file (see
// OwnerPolicy and testdata/owner-policy.yaml). Every error is a *FileError
// wrapping ErrPolicyFile and names the line of the offending key or value.
// Missing optional fields take their documented defaults.
//
// It reads nothing but data, with one exception: group time zones are
// loaded with time.LoadLocation, which reads the IANA time zone database
// (the system's, or the copy embedded by a binary that imports
// time/tzdata).
func ParseOwnerPolicy(data []byte) (*OwnerPolicy, error) {
	if len(data) > MaxPolicyFileSize {
		return nil, &FileError{Msg: fmt.Sprintf("%d bytes, more than the limit of %d", len(data), MaxPolicyFileSize)}
	}
	empty := &FileError{Msg: "the file is empty (want at least version, zones and groups)"}
	var doc yaml.Node
	if err := decodeYAML(data, &doc); err != nil {
		var fe *FileError
		switch {
		case errors.Is(err, io.EOF):
			return nil, empty
		case errors.As(err, &fe):
			return nil, err
		}
		return nil, yamlError(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, empty
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, empty
	}
	return parseRoot(root)
}

func parseRoot(root *yaml.Node) (*OwnerPolicy, error) {
	// The version first, so that a newer file is reported as such rather
	// than as a list of unknown keys.
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if k.Value != "version" || isNull(v) {
				continue
			}
			ver, err := integer(v, "version")
			if err != nil {
				return nil, err
			}
			if ver != OwnerPolicyVersion {
				return nil, errAt(v, "version %d is not supported (this Tocsin reads version %d)", ver, OwnerPolicyVersion)
			}
			break
		}
	}
	top, err := mapping(root, "the policy", "version", "fleet", "operator_keys", "zones", "groups", "auto_authorise", "rollout")
	if err != nil {
		return nil, err
	}
	p := &OwnerPolicy{}
	v, err := top.need("version")
	if err != nil {
		return nil, err
	}
	if p.Version, err = integer(v, "version"); err != nil {
		return nil, err
	}
	if v := top.get("fleet"); v != nil {
		if p.Fleet, err = text(v, "fleet"); err != nil {
			return nil, err
		}
	}
	if v := top.get("operator_keys"); v != nil {
		if p.OperatorKeys, _, err = names(v, "operator_keys"); err != nil {
			return nil, err
		}
	}
	v, err = top.need("zones")
	if err != nil {
		return nil, err
	}
	if p.Zones, err = parseZones(v); err != nil {
		return nil, err
	}
	v, err = top.need("groups")
	if err != nil {
		return nil, err
	}
	if p.Groups, err = parseGroups(v, p); err != nil {
		return nil, err
	}
	if v := top.get("auto_authorise"); v != nil {
		if p.AutoAuthorise, err = parseRules(v, p); err != nil {
			return nil, err
		}
	}
	p.Rollout = DefaultRollout()
	if v := top.get("rollout"); v != nil {
		if p.Rollout, err = parseRollout(v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseZones(n *yaml.Node) ([]Zone, error) {
	items, err := list(n, "zones")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errAt(n, "zones: at least one zone is needed")
	}
	var zones []Zone
	first := map[string]int{}
	for i, it := range items {
		f, err := mapping(it, itemLabel("zone", i, it), "name", "target_sl", "description")
		if err != nil {
			return nil, err
		}
		var z Zone
		nn, err := f.need("name")
		if err != nil {
			return nil, err
		}
		if z.Name, err = text(nn, "zone name"); err != nil {
			return nil, err
		}
		if err := checkName(nn, z.Name, "zone name"); err != nil {
			return nil, err
		}
		if line, dup := first[z.Name]; dup {
			return nil, errAt(nn, "duplicate zone %q (first defined at line %d)", z.Name, line)
		}
		first[z.Name] = nn.Line
		sl, err := f.need("target_sl")
		if err != nil {
			return nil, err
		}
		if z.TargetSL, err = integer(sl, "target_sl"); err != nil {
			return nil, err
		}
		if z.TargetSL < 1 || z.TargetSL > 4 {
			return nil, errAt(sl, "zone %q: target_sl %d out of range (want 1, 2, 3 or 4)", z.Name, z.TargetSL)
		}
		if d := f.get("description"); d != nil {
			if z.Description, err = text(d, "description"); err != nil {
				return nil, err
			}
		}
		zones = append(zones, z)
	}
	return zones, nil
}

func parseGroups(n *yaml.Node, p *OwnerPolicy) ([]Group, error) {
	items, err := list(n, "groups")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errAt(n, "groups: at least one group is needed")
	}
	var groups []Group
	first := map[string]int{}
	for i, it := range items {
		f, err := mapping(it, itemLabel("group", i, it), "name", "zone", "safety_related", "windows", "timezone", "description")
		if err != nil {
			return nil, err
		}
		var g Group
		nn, err := f.need("name")
		if err != nil {
			return nil, err
		}
		if g.Name, err = text(nn, "group name"); err != nil {
			return nil, err
		}
		if err := checkName(nn, g.Name, "group name"); err != nil {
			return nil, err
		}
		if line, dup := first[g.Name]; dup {
			return nil, errAt(nn, "duplicate group %q (first defined at line %d)", g.Name, line)
		}
		first[g.Name] = nn.Line
		zn, err := f.need("zone")
		if err != nil {
			return nil, err
		}
		if g.Zone, err = text(zn, "zone"); err != nil {
			return nil, err
		}
		if _, ok := p.Zone(g.Zone); !ok {
			known := make([]string, len(p.Zones))
			for i, z := range p.Zones {
				known[i] = z.Name
			}
			return nil, errAt(zn, "group %q: unknown zone %q (zones: %s)", g.Name, g.Zone, strings.Join(known, ", "))
		}
		if v := f.get("safety_related"); v != nil {
			if g.SafetyRelated, err = boolean(v, "safety_related"); err != nil {
				return nil, err
			}
		}
		g.Timezone = "UTC"
		g.Location = time.UTC
		if v := f.get("timezone"); v != nil {
			if g.Timezone, err = text(v, "timezone"); err != nil {
				return nil, err
			}
			if g.Location, err = loadLocation(g.Timezone); err != nil {
				return nil, errAt(v, "group %q: %v", g.Name, err)
			}
		}
		if v := f.get("windows"); v != nil {
			specs, items, err := names(v, "windows")
			if err != nil {
				return nil, err
			}
			for j, spec := range specs {
				w, err := ParseWindow(spec, g.Location)
				if err != nil {
					return nil, errAt(items[j], "group %q: %s", g.Name, strings.TrimPrefix(err.Error(), "policy: "))
				}
				g.Windows = append(g.Windows, w)
			}
		}
		if d := f.get("description"); d != nil {
			if g.Description, err = text(d, "description"); err != nil {
				return nil, err
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// loadLocation loads an IANA time zone, refusing "Local" and "" (which
// time.LoadLocation reads as the machine's zone and UTC).
func loadLocation(name string) (*time.Location, error) {
	switch name {
	case "UTC":
		return time.UTC, nil
	case "", "Local":
		return nil, fmt.Errorf("time zone %q: name an IANA zone such as Europe/Berlin, or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", name)
	}
	return loc, nil
}

func parseRules(n *yaml.Node, p *OwnerPolicy) ([]AutoRule, error) {
	items, err := list(n, "auto_authorise")
	if err != nil {
		return nil, err
	}
	var rules []AutoRule
	for i, it := range items {
		what := fmt.Sprintf("auto_authorise rule %d", i+1)
		f, err := mapping(it, what, "min_severity", "groups", "description")
		if err != nil {
			return nil, err
		}
		r := AutoRule{Line: it.Line}
		sv, err := f.need("min_severity")
		if err != nil {
			return nil, err
		}
		s, err := text(sv, "min_severity")
		if err != nil {
			return nil, err
		}
		if _, err := severityRank(s); err != nil {
			return nil, errAt(sv, "%s: unknown severity %q (want NONE, LOW, MEDIUM, HIGH or CRITICAL)", what, s)
		}
		r.MinSeverity = strings.ToUpper(strings.TrimSpace(s))
		if v, present := f.vals["groups"]; present {
			if isNull(v) {
				return nil, errAt(v, "%s: groups is empty; leave the key out to cover every group", what)
			}
			gs, gItems, err := names(v, "groups")
			if err != nil {
				return nil, err
			}
			if len(gs) == 0 {
				return nil, errAt(v, "%s: groups is empty; leave the key out to cover every group", what)
			}
			for j, name := range gs {
				g, ok := p.Group(name)
				if !ok {
					return nil, errAt(gItems[j], "%s: unknown group %q", what, name)
				}
				if g.SafetyRelated {
					return nil, errAt(gItems[j], "%s: group %q is safety-related and is never auto-authorised (IEC TR 63069: it needs an operator decision with a safety impact analysis reference)", what, name)
				}
			}
			r.Groups = gs
		}
		if d := f.get("description"); d != nil {
			if r.Description, err = text(d, "description"); err != nil {
				return nil, err
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRollout(n *yaml.Node) (Rollout, error) {
	f, err := mapping(n, "rollout", "canary_share", "waves", "soak", "failure_threshold", "min_failures")
	if err != nil {
		return Rollout{}, err
	}
	r := DefaultRollout()
	canary, waves := f.get("canary_share"), f.get("waves")
	switch {
	case canary != nil && waves == nil:
		r.Waves = nil
	case waves != nil && canary == nil:
		r.CanaryShare = 0
	}
	if canary != nil {
		if r.CanaryShare, err = number(canary, "canary_share"); err != nil {
			return Rollout{}, err
		}
		if !(r.CanaryShare > 0 && r.CanaryShare <= 1) {
			return Rollout{}, errAt(canary, "rollout: canary_share %v out of range (want more than 0 and at most 1)", r.CanaryShare)
		}
	}
	if waves != nil {
		items, err := list(waves, "waves")
		if err != nil {
			return Rollout{}, err
		}
		if len(items) == 0 {
			return Rollout{}, errAt(waves, "rollout: waves is empty; leave the key out for the default")
		}
		r.Waves = make([]float64, len(items))
		for i, it := range items {
			s, err := number(it, "wave share")
			if err != nil {
				return Rollout{}, err
			}
			switch {
			case !(s > 0 && s <= 1):
				return Rollout{}, errAt(it, "rollout: wave %d share %v out of range (want more than 0 and at most 1)", i, s)
			case i > 0 && s <= r.Waves[i-1]:
				return Rollout{}, errAt(it, "rollout: wave %d share %v is not above wave %d share %v (shares are cumulative)", i, s, i-1, r.Waves[i-1])
			case i == len(items)-1 && s != 1:
				return Rollout{}, errAt(it, "rollout: last wave share %v must be 1 so that every device gets a wave", s)
			}
			r.Waves[i] = s
		}
		if canary != nil && r.CanaryShare != r.Waves[0] {
			return Rollout{}, errAt(canary, "rollout: canary_share %v differs from the first wave %v (leave one out)", r.CanaryShare, r.Waves[0])
		}
	}
	if v := f.get("soak"); v != nil {
		s, err := text(v, "soak")
		if err != nil {
			return Rollout{}, err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return Rollout{}, errAt(v, "rollout: soak %q is not a duration (e.g. 24h, 90m)", s)
		}
		if d < 0 {
			return Rollout{}, errAt(v, "rollout: soak %s is negative", d)
		}
		r.Soak = d
	}
	if v := f.get("failure_threshold"); v != nil {
		if r.FailureThreshold, err = number(v, "failure_threshold"); err != nil {
			return Rollout{}, err
		}
		if !(r.FailureThreshold >= 0 && r.FailureThreshold < 1) || math.IsNaN(r.FailureThreshold) {
			return Rollout{}, errAt(v, "rollout: failure_threshold %v out of range (want at least 0 and below 1)", r.FailureThreshold)
		}
	}
	if v := f.get("min_failures"); v != nil {
		if r.MinFailures, err = integer(v, "min_failures"); err != nil {
			return Rollout{}, err
		}
		if r.MinFailures < 0 {
			return Rollout{}, errAt(v, "rollout: min_failures %d is negative", r.MinFailures)
		}
	}
	if err := r.Validate(); err != nil {
		return Rollout{}, errAt(n, "rollout: %s", strings.TrimPrefix(err.Error(), "policy: "))
	}
	return r, nil
}
