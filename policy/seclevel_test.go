package policy

import (
	"errors"
	"math"
	"testing"
)

func TestMandatoryAllCombinations(t *testing.T) {
	// want[sl-1] lists, for NONE, LOW, MEDIUM, HIGH, CRITICAL, whether a fix
	// is mandatory at that target security level.
	severities := []string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
	want := [4][5]bool{
		{false, false, false, false, true}, // SL1
		{false, false, false, true, true},  // SL2
		{false, false, true, true, true},   // SL3
		{false, true, true, true, true},    // SL4
	}
	for sl := 1; sl <= 4; sl++ {
		for i, sev := range severities {
			got, err := Mandatory(sl, sev)
			if err != nil || got != want[sl-1][i] {
				t.Errorf("Mandatory(%d, %s) = %v, %v; want %v", sl, sev, got, err, want[sl-1][i])
			}
		}
	}
}

func TestMandatoryInput(t *testing.T) {
	tests := []struct {
		sl   int
		sev  string
		want bool
		err  error
	}{
		{2, "high", true, nil},
		{3, " Medium ", true, nil},
		{1, "critical", true, nil},
		{0, "CRITICAL", false, ErrInvalidSecurityLevel},
		{5, "CRITICAL", false, ErrInvalidSecurityLevel},
		{-1, "LOW", false, ErrInvalidSecurityLevel},
		{2, "", false, ErrUnknownSeverity},
		{2, "SEVERE", false, ErrUnknownSeverity},
		{4, "INFO", false, ErrUnknownSeverity},
		{0, "bogus", false, ErrInvalidSecurityLevel}, // the level is checked first
	}
	for _, tt := range tests {
		got, err := Mandatory(tt.sl, tt.sev)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Mandatory(%d, %q) = %v, %v; want %v, %v", tt.sl, tt.sev, got, err, tt.want, tt.err)
		}
		if tt.err != nil && got {
			t.Errorf("Mandatory(%d, %q) returned true with an error", tt.sl, tt.sev)
		}
	}
}

func TestSeverityFromScore(t *testing.T) {
	tests := []struct {
		score float64
		want  string
	}{
		{0, "NONE"}, {0.1, "LOW"}, {3.9, "LOW"}, {4.0, "MEDIUM"}, {6.9, "MEDIUM"},
		{7.0, "HIGH"}, {8.9, "HIGH"}, {9.0, "CRITICAL"}, {10, "CRITICAL"},
		{0.05, "LOW"}, {3.95, "LOW"}, {8.99, "HIGH"},
		{-0.1, ""}, {10.1, ""}, {math.NaN(), ""}, {math.Inf(1), ""}, {math.Inf(-1), ""},
	}
	for _, tt := range tests {
		if got := SeverityFromScore(tt.score); got != tt.want {
			t.Errorf("SeverityFromScore(%v) = %q, want %q", tt.score, got, tt.want)
		}
	}
	// Every one-decimal score, as CVSS produces them, against the bands in
	// tenths.
	for tenths := 0; tenths <= 100; tenths++ {
		want := "CRITICAL"
		switch {
		case tenths == 0:
			want = "NONE"
		case tenths <= 39:
			want = "LOW"
		case tenths <= 69:
			want = "MEDIUM"
		case tenths <= 89:
			want = "HIGH"
		}
		if got := SeverityFromScore(float64(tenths) / 10); got != want {
			t.Errorf("SeverityFromScore(%.1f) = %q, want %q", float64(tenths)/10, got, want)
		}
	}
}
