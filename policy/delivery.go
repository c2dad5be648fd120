package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidDeliveryInput is wrapped by every error DecideDelivery and the
// delivery parse functions return for input they refuse.
var ErrInvalidDeliveryInput = errors.New("invalid delivery input")

// Exploitation is how far a vulnerability is known to be exploited. The
// values are ordered: ExploitNone < ExploitPoC < ExploitActive. The zero
// Exploitation is not valid, so an unset field is refused rather than read as
// "not exploited".
type Exploitation uint8

// Exploitation levels.
const (
	// ExploitNone: no public exploit and no known exploitation.
	ExploitNone Exploitation = iota + 1
	// ExploitPoC: a proof of concept or exploit code is public.
	ExploitPoC
	// ExploitActive: exploitation in the wild is known (e.g. listed in CISA
	// KEV).
	ExploitActive
)

var exploitationNames = [...]string{ExploitNone: "none", ExploitPoC: "poc", ExploitActive: "active"}

// Valid reports whether x is one of the defined levels.
func (x Exploitation) Valid() bool { return x >= ExploitNone && x <= ExploitActive }

// String returns "none", "poc" or "active", or "Exploitation(N)".
func (x Exploitation) String() string {
	if !x.Valid() {
		return fmt.Sprintf("Exploitation(%d)", uint8(x))
	}
	return exploitationNames[x]
}

// MarshalText encodes x as its name; an undefined value is an error.
func (x Exploitation) MarshalText() ([]byte, error) {
	if !x.Valid() {
		return nil, fmt.Errorf("policy: %w: exploitation %d", ErrInvalidDeliveryInput, uint8(x))
	}
	return []byte(exploitationNames[x]), nil
}

// UnmarshalText decodes a name accepted by ParseExploitation.
func (x *Exploitation) UnmarshalText(b []byte) error {
	v, err := ParseExploitation(string(b))
	if err != nil {
		return err
	}
	*x = v
	return nil
}

// ParseExploitation parses "none", "poc" or "active", case-insensitively.
func ParseExploitation(s string) (Exploitation, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for x := ExploitNone; x <= ExploitActive; x++ {
		if exploitationNames[x] == n {
			return x, nil
		}
	}
	return 0, fmt.Errorf("policy: %w: exploitation %q (want none, poc or active)", ErrInvalidDeliveryInput, s)
}

// DeliveryClass is how urgently a supplier delivers a security update
// (IEC 62443-4-1 SUM-5, timely delivery of security patches). The values are
// ordered by urgency: DeliveryNextRelease < DeliveryScheduled <
// DeliveryExpedited < DeliveryImmediate. The zero value is not valid.
type DeliveryClass uint8

// Delivery classes, least urgent first.
const (
	// DeliveryNextRelease: fixed in the next regular release; 180 days.
	DeliveryNextRelease DeliveryClass = iota + 1
	// DeliveryScheduled: a planned maintenance release; 90 days.
	DeliveryScheduled
	// DeliveryExpedited: a dedicated security release; 30 days.
	DeliveryExpedited
	// DeliveryImmediate: an out-of-band emergency release; 7 days.
	DeliveryImmediate
)

var (
	deliveryNames = [...]string{
		DeliveryNextRelease: "next-release",
		DeliveryScheduled:   "scheduled",
		DeliveryExpedited:   "expedited",
		DeliveryImmediate:   "immediate",
	}
	deliveryDays = [...]int{
		DeliveryNextRelease: 180,
		DeliveryScheduled:   90,
		DeliveryExpedited:   30,
		DeliveryImmediate:   7,
	}
)

// Valid reports whether c is one of the defined classes.
func (c DeliveryClass) Valid() bool { return c >= DeliveryNextRelease && c <= DeliveryImmediate }

// String returns "next-release", "scheduled", "expedited" or "immediate", or
// "DeliveryClass(N)".
func (c DeliveryClass) String() string {
	if !c.Valid() {
		return fmt.Sprintf("DeliveryClass(%d)", uint8(c))
	}
	return deliveryNames[c]
}

// Days returns the delivery deadline of the class in days after the
// vulnerability was published: 7, 30, 90 or 180; 0 for an undefined class.
func (c DeliveryClass) Days() int {
	if !c.Valid() {
		return 0
	}
	return deliveryDays[c]
}

// MarshalText encodes c as its name; an undefined value is an error.
func (c DeliveryClass) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("policy: %w: delivery class %d", ErrInvalidDeliveryInput, uint8(c))
	}
	return []byte(deliveryNames[c]), nil
}

// UnmarshalText decodes a name accepted by ParseDeliveryClass.
func (c *DeliveryClass) UnmarshalText(b []byte) error {
	v, err := ParseDeliveryClass(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ParseDeliveryClass parses a class name as returned by String,
// case-insensitively, with '_' accepted for '-'.
func ParseDeliveryClass(s string) (DeliveryClass, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for c := DeliveryNextRelease; c <= DeliveryImmediate; c++ {
		if deliveryNames[c] == n {
			return c, nil
		}
	}
	return 0, fmt.Errorf("policy: %w: delivery class %q (want next-release, scheduled, expedited or immediate)", ErrInvalidDeliveryInput, s)
}

// LargeDeployment is the number of deployed systems from which a
// vulnerability of MEDIUM severity or above is delivered one class sooner.
const LargeDeployment = 1000

// DeliveryInput is what the supplier knows about a vulnerability when it
// decides how fast to deliver the fix.
type DeliveryInput struct {
	// Score is the CVSS base score, 0.0–10.0.
	Score float64 `json:"score" yaml:"score"`
	// Exploitation is the known exploitation status; required.
	Exploitation Exploitation `json:"exploitation" yaml:"exploitation"`
	// Workaround is true when a documented workaround or compensating
	// control lets asset owners mitigate without the update.
	Workaround bool `json:"workaround" yaml:"workaround"`
	// Deployed is the number of deployed systems affected, 0 or more.
	Deployed int `json:"deployed" yaml:"deployed"`
}

// DeliveryDecision is the outcome of DecideDelivery.
type DeliveryDecision struct {
	// Class is the delivery class.
	Class DeliveryClass `json:"class" yaml:"class"`
	// Days is the deadline in days after publication (Class.Days()).
	Days int `json:"deadline_days" yaml:"deadline_days"`
	// Severity is the CVSS severity of the score (SeverityFromScore).
	Severity string `json:"severity" yaml:"severity"`
	// Reason explains the steps of the decision tree that applied, on one
	// line, e.g. "HIGH with poc exploitation: expedited; no workaround: immediate".
	Reason string `json:"reason" yaml:"reason"`
}

// deliveryBase is step 1 of the tree: [severity rank][exploitation].
var deliveryBase = [5][4]DeliveryClass{
	0: {ExploitNone: DeliveryNextRelease, ExploitPoC: DeliveryNextRelease, ExploitActive: DeliveryNextRelease}, // NONE
	1: {ExploitNone: DeliveryNextRelease, ExploitPoC: DeliveryNextRelease, ExploitActive: DeliveryScheduled},   // LOW
	2: {ExploitNone: DeliveryNextRelease, ExploitPoC: DeliveryScheduled, ExploitActive: DeliveryExpedited},     // MEDIUM
	3: {ExploitNone: DeliveryScheduled, ExploitPoC: DeliveryExpedited, ExploitActive: DeliveryImmediate},       // HIGH
	4: {ExploitNone: DeliveryExpedited, ExploitPoC: DeliveryExpedited, ExploitActive: DeliveryImmediate},       // CRITICAL
}

// DecideDelivery decides how fast a supplier delivers the fix for a
// vulnerability (IEC 62443-4-1 SUM-5). The decision tree:
//
//	Step 1, base class by severity and exploitation:
//	  severity (CVSS)      none          poc           active
//	  CRITICAL 9.0–10.0    expedited     expedited     immediate
//	  HIGH     7.0–8.9     scheduled     expedited     immediate
//	  MEDIUM   4.0–6.9     next-release  scheduled     expedited
//	  LOW      0.1–3.9     next-release  next-release  scheduled
//	  NONE     0.0         next-release  next-release  next-release  (final: steps 2–4 skipped)
//	Step 2, no workaround: one class more urgent.
//	Step 3, Deployed >= LargeDeployment (1000) and severity MEDIUM or above:
//	        one class more urgent.
//	Step 4, cap: without any exploitation (none) at most expedited;
//	        immediate is the most urgent class in any case.
//
//	class          deadline
//	immediate        7 days
//	expedited       30 days
//	scheduled       90 days
//	next-release   180 days
//
// The tree is monotone: a higher score, more exploitation (none < poc <
// active), no workaround instead of one, or more deployed systems never gives
// a later deadline. Each step is non-decreasing in every input (the step 1
// table in both rows and columns, steps 2 and 3 add a non-negative bump that
// grows with the inputs, and the step 4 cap grows with exploitation), and so
// is their composition.
//
// A score outside 0–10 or NaN, an undefined Exploitation or a negative
// Deployed is refused with ErrInvalidDeliveryInput.
func DecideDelivery(in DeliveryInput) (DeliveryDecision, error) {
	sev := SeverityFromScore(in.Score)
	if sev == "" {
		return DeliveryDecision{}, fmt.Errorf("policy: %w: CVSS score %v outside 0.0–10.0", ErrInvalidDeliveryInput, in.Score)
	}
	if !in.Exploitation.Valid() {
		return DeliveryDecision{}, fmt.Errorf("policy: %w: exploitation %s is not none, poc or active", ErrInvalidDeliveryInput, in.Exploitation)
	}
	if in.Deployed < 0 {
		return DeliveryDecision{}, fmt.Errorf("policy: %w: deployed systems %d is negative", ErrInvalidDeliveryInput, in.Deployed)
	}
	rank, _ := severityRank(sev) // sev is always a known rating here

	class := deliveryBase[rank][in.Exploitation]
	reason := []string{fmt.Sprintf("%s with %s exploitation: %s", sev, in.Exploitation, class)}
	if rank > 0 {
		if !in.Workaround && class < DeliveryImmediate {
			class++
			reason = append(reason, "no workaround: "+class.String())
		}
		if in.Deployed >= LargeDeployment && rank >= 2 && class < DeliveryImmediate {
			class++
			reason = append(reason, fmt.Sprintf("%d deployed: %s", in.Deployed, class))
		}
		if in.Exploitation == ExploitNone && class > DeliveryExpedited {
			class = DeliveryExpedited
			reason = append(reason, "not exploited: capped at "+class.String())
		}
	}
	return DeliveryDecision{Class: class, Days: class.Days(), Severity: sev, Reason: strings.Join(reason, "; ")}, nil
}

// Deadline returns the delivery deadline: published plus d.Days calendar days,
// in published's location (so a deadline keeps its wall-clock time across a
// DST change). A DeliveryDecision with a negative or zero Days gives published.
func Deadline(published time.Time, d DeliveryDecision) time.Time {
	return published.AddDate(0, 0, max(d.Days, 0))
}
