package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Security-level errors.
var (
	// ErrInvalidSecurityLevel is returned for a target security level
	// outside 1–4.
	ErrInvalidSecurityLevel = errors.New("invalid target security level")
	// ErrUnknownSeverity is returned for a severity that is not one of the
	// CVSS qualitative ratings NONE, LOW, MEDIUM, HIGH, CRITICAL.
	ErrUnknownSeverity = errors.New("unknown severity")
)

// CVSS qualitative severity ratings, in increasing order. The index is the
// rank used for comparisons.
var severityRanks = [...]string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// mandatoryFloor[sl] is the lowest severity rank that is mandatory to fix in
// a zone with target security level sl.
var mandatoryFloor = [...]int{
	1: 4, // SL1: CRITICAL
	2: 3, // SL2: HIGH and CRITICAL
	3: 2, // SL3: MEDIUM and above
	4: 1, // SL4: LOW and above
}

// severityRank returns the rank of a CVSS severity (case-insensitive,
// surrounding space ignored).
func severityRank(severity string) (int, error) {
	s := strings.ToUpper(strings.TrimSpace(severity))
	for i, name := range severityRanks {
		if s == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("policy: %w %q (want NONE, LOW, MEDIUM, HIGH or CRITICAL)", ErrUnknownSeverity, severity)
}

// Mandatory reports whether a vulnerability of the given CVSS severity must be
// fixed on a device in a zone with target security level targetSL (IEC
// 62443-3-3 SL-T), following the ISASecure SDLA practice that the higher the
// target level, the lower the severity that may be left unfixed:
//
//	target SL   mandatory severities
//	SL1         CRITICAL
//	SL2         CRITICAL, HIGH
//	SL3         CRITICAL, HIGH, MEDIUM
//	SL4         CRITICAL, HIGH, MEDIUM, LOW
//
// NONE (CVSS 0.0) is never mandatory. severity is matched case-insensitively.
// A target level outside 1–4 is refused with ErrInvalidSecurityLevel (SL0,
// "no requirements", is treated as a configuration error rather than as
// "nothing is mandatory"); an unknown severity with ErrUnknownSeverity.
func Mandatory(targetSL int, severity string) (bool, error) {
	if targetSL < 1 || targetSL > 4 {
		return false, fmt.Errorf("policy: %w %d (want 1, 2, 3 or 4)", ErrInvalidSecurityLevel, targetSL)
	}
	rank, err := severityRank(severity)
	if err != nil {
		return false, err
	}
	return rank >= mandatoryFloor[targetSL], nil
}

// SeverityFromScore returns the CVSS v3 qualitative severity of a base score:
//
//	score          severity
//	0.0            NONE
//	0.1 – 3.9      LOW
//	4.0 – 6.9      MEDIUM
//	7.0 – 8.9      HIGH
//	9.0 – 10.0     CRITICAL
//
// Scores between the bands (which CVSS never produces, since scores have one
// decimal) fall into the lower band: the bands are 0, (0, 4), [4, 7), [7, 9)
// and [9, 10]. It returns "" for NaN and for scores outside 0–10.
func SeverityFromScore(score float64) string {
	switch {
	case math.IsNaN(score) || score < 0 || score > 10:
		return ""
	case score == 0:
		return "NONE"
	case score < 4:
		return "LOW"
	case score < 7:
		return "MEDIUM"
	case score < 9:
		return "HIGH"
	default:
		return "CRITICAL"
	}
}
