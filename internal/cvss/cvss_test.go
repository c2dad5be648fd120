package cvss

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedCVSS is the shared test data directory, relative to this package
// (the repository is checked out next to shared/).
const sharedCVSS = "../../../shared/testdata/cvss"

// disputed40 lists the CVSS 4.0 vectors of vectors_simple4 whose official
// score we knowingly do not reproduce, with the score each side gives.
//
// All five sit in MacroVector 111200 (score 6.1). In exact arithmetic their
// score is 6.1 - (1.5*3/4 + 0.9*2/8)/3 = 6.1 - 0.45 = 5.65, a tie at x.x5.
// Computed in binary floating point the interpolation lands one ULP below
// the tie, at 5.6499999999999995, so:
//
//   - go-cvss v0.6.4 (our library) gives 5.6: it rounds the float with
//     math.Round(x*10)/10 (unchanged on its main branch as of 2026-08);
//   - vectors_simple4 gives 5.7: it comes from RedHatProductSecurity/cvss,
//     whose final_rounding adds an epsilon (1e-6) and then rounds half up
//     with Decimal;
//   - FIRST's calculator code (FIRSTdotorg/cvss-v4-calculator, cvss_score.js,
//     main at c5b0d40, 2024-08-19) ends with Math.round(value * 10) / 10 and
//     gives 5.6 like the library. Red Hat's own calculator added the epsilon
//     on 2024-11-01 (RedHatProductSecurity/cvss-v4-calculator#67) and gives
//     5.7, so the reference implementations themselves disagree.
//
// We follow the library and FIRST's calculator code: internal/cvss is a thin
// wrapper and does not patch the scoring maths, so the score Tocsin prints
// is the score go-cvss computes. If a go-cvss upgrade switches to rounding
// the tie half up, these entries start to agree and the test fails, so that
// the list is revisited on purpose.
var disputed40 = map[string]struct{ library, file float64 }{
	"CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:H/VA:L/SC:N/SI:N/SA:L": {5.6, 5.7},
	"CVSS:4.0/AV:N/AC:H/AT:P/PR:H/UI:A/VC:L/VI:H/VA:N/SC:L/SI:N/SA:N": {5.6, 5.7},
	"CVSS:4.0/AV:L/AC:L/AT:P/PR:N/UI:A/VC:L/VI:H/VA:N/SC:N/SI:N/SA:N": {5.6, 5.7},
	"CVSS:4.0/AV:L/AC:L/AT:P/PR:H/UI:N/VC:N/VI:L/VA:H/SC:L/SI:L/SA:N": {5.6, 5.7},
	"CVSS:4.0/AV:L/AC:H/AT:P/PR:N/UI:A/VC:L/VI:H/VA:N/SC:L/SI:N/SA:L": {5.6, 5.7},
}

type officialVector struct {
	line   int
	vector string
	base   float64
}

// readOfficial parses one of the shared vector files. Lines are
// "VECTOR - (base, temporal, env)" (3.1) or "VECTOR - (score,)" /
// "VECTOR - score" (4.0); the first number is the base score.
func readOfficial(t *testing.T, name string) []officialVector {
	t.Helper()
	if _, err := os.Stat(sharedCVSS); err != nil {
		t.Skipf("shared CVSS test data not available at %s: %v", sharedCVSS, err)
	}
	f, err := os.Open(filepath.Join(sharedCVSS, name))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	var out []officialVector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		vec, scores, ok := strings.Cut(line, " - ")
		if !ok {
			t.Fatalf("%s:%d: no ' - ' separator in %q", name, n, line)
		}
		scores = strings.TrimSpace(scores)
		scores = strings.TrimSuffix(strings.TrimPrefix(scores, "("), ")")
		first, _, _ := strings.Cut(scores, ",")
		base, err := strconv.ParseFloat(strings.TrimSpace(first), 64)
		if err != nil {
			t.Fatalf("%s:%d: base score in %q: %v", name, n, line, err)
		}
		out = append(out, officialVector{line: n, vector: strings.TrimSpace(vec), base: base})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return out
}

func TestCVSSOfficialVectors31(t *testing.T) {
	vectors := readOfficial(t, "vectors_simple31")
	if len(vectors) < 2000 {
		t.Fatalf("only %d vectors read from vectors_simple31; the file is truncated or the parser is wrong", len(vectors))
	}
	bad := 0
	for _, v := range vectors {
		r, err := Score(v.vector)
		switch {
		case err != nil:
			bad++
			t.Errorf("line %d %s: %v", v.line, v.vector, err)
		case r.Version != "3.1":
			bad++
			t.Errorf("line %d %s: version %q, want 3.1", v.line, v.vector, r.Version)
		case r.BaseScore != v.base:
			bad++
			t.Errorf("line %d %s: base score %.1f, official %.1f", v.line, v.vector, r.BaseScore, v.base)
		case r.Severity != severityOf(v.base):
			bad++
			t.Errorf("line %d %s: severity %s, want %s for %.1f", v.line, v.vector, r.Severity, severityOf(v.base), v.base)
		}
	}
	t.Logf("CVSS 3.1: %d vectors checked, %d disagree", len(vectors), bad)
}

func TestCVSSOfficialVectors40(t *testing.T) {
	vectors := readOfficial(t, "vectors_simple4")
	if len(vectors) < 1000 {
		t.Fatalf("only %d vectors read from vectors_simple4; the file is truncated or the parser is wrong", len(vectors))
	}
	seen := map[string]bool{}
	bad := 0
	for _, v := range vectors {
		r, err := Score(v.vector)
		if err != nil {
			bad++
			t.Errorf("line %d %s: %v", v.line, v.vector, err)
			continue
		}
		if r.Version != "4.0" {
			t.Errorf("line %d %s: version %q, want 4.0", v.line, v.vector, r.Version)
		}
		if d, disputed := disputed40[v.vector]; disputed {
			seen[v.vector] = true
			if v.base != d.file {
				t.Errorf("line %d %s: documented dispute says the file gives %.1f, it gives %.1f", v.line, v.vector, d.file, v.base)
			}
			if r.BaseScore == v.base {
				t.Errorf("line %d %s: documented dispute now agrees (%.1f); remove it from disputed40", v.line, v.vector, r.BaseScore)
			} else if r.BaseScore != d.library {
				t.Errorf("line %d %s: library gives %.1f, documented dispute says %.1f", v.line, v.vector, r.BaseScore, d.library)
			}
			t.Logf("documented dispute, line %d %s: library %.1f, file %.1f (we report %.1f)", v.line, v.vector, r.BaseScore, v.base, r.BaseScore)
			continue
		}
		if r.BaseScore != v.base {
			bad++
			t.Errorf("line %d %s: base score %.1f, official %.1f (not a documented dispute)", v.line, v.vector, r.BaseScore, v.base)
		}
		if r.Severity != severityOf(r.BaseScore) {
			t.Errorf("line %d %s: severity %s for %.1f, want %s", v.line, v.vector, r.Severity, r.BaseScore, severityOf(r.BaseScore))
		}
	}
	for vec := range disputed40 {
		if !seen[vec] {
			t.Errorf("documented dispute %s is not in vectors_simple4", vec)
		}
	}
	t.Logf("CVSS 4.0: %d vectors checked, %d documented disputes, %d undocumented disagreements", len(vectors), len(seen), bad)
}

// severityOf is the qualitative rating scale shared by CVSS 3.x and 4.0,
// written out from the specifications rather than taken from the library.
func severityOf(score float64) string {
	switch {
	case score == 0:
		return "NONE"
	case score < 4.0:
		return "LOW"
	case score < 7.0:
		return "MEDIUM"
	case score < 9.0:
		return "HIGH"
	default:
		return "CRITICAL"
	}
}

func TestCVSSKnownScores(t *testing.T) {
	// Scores published in the specifications' examples and by NVD.
	cases := []struct {
		vector, version string
		score           float64
		severity        string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, "CRITICAL"},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 9.8, "CRITICAL"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", 0, "NONE"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.1", 6.1, "MEDIUM"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, "CRITICAL"},
		{"  CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n", "3.1", 9.8, "CRITICAL"},
	}
	for _, c := range cases {
		r, err := Score(c.vector)
		if err != nil {
			t.Errorf("%q: %v", c.vector, err)
			continue
		}
		if r.Version != c.version || r.BaseScore != c.score || r.Severity != c.severity {
			t.Errorf("%q: got %s %.1f %s, want %s %.1f %s", c.vector, r.Version, r.BaseScore, r.Severity, c.version, c.score, c.severity)
		}
		if r.Vector != strings.TrimSpace(c.vector) {
			t.Errorf("%q: Vector %q, want the trimmed input", c.vector, r.Vector)
		}
	}
}

func TestCVSSInvalidVectors(t *testing.T) {
	for _, v := range []string{
		"",
		"   ",
		"9.8",
		"AV:N/AC:L/Au:N/C:P/I:P/A:P", // CVSS v2: not supported
		"CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
		"cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",      // missing A
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:X",  // bad value
		"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", // repeated metric
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", // trailing slash
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
		"CVSS:4.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/" + strings.Repeat("AV:N/", 300),
	} {
		r, err := Score(v)
		if err == nil {
			t.Errorf("Score(%q) = %+v, want an error", v, r)
			continue
		}
		if !errors.Is(err, ErrInvalidVector) {
			t.Errorf("Score(%q): error %v does not wrap ErrInvalidVector", v, err)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
			t.Errorf("Score(%q): error is not one line: %q", v, msg)
		}
		if r != (Result{}) {
			t.Errorf("Score(%q): non-zero result %+v alongside error", v, r)
		}
	}
}

func FuzzScore(f *testing.F) {
	for _, s := range []string{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N/E:P/RL:O/RC:C",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
		"CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:H/SC:H/SI:L/SA:H/E:U/CR:L/MSI:S",
		"CVSS:3.1/AV:N/AV:N",
		"CVSS:4.0/",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := Score(v)
		if err != nil {
			if !errors.Is(err, ErrInvalidVector) {
				t.Fatalf("Score(%q): error %v does not wrap ErrInvalidVector", v, err)
			}
			return
		}
		if r.BaseScore < 0 || r.BaseScore > 10 {
			t.Fatalf("Score(%q): base score %v out of [0, 10]", v, r.BaseScore)
		}
		if r.Severity != severityOf(r.BaseScore) {
			t.Fatalf("Score(%q): severity %s for %.1f", v, r.Severity, r.BaseScore)
		}
		if r.Version != "3.0" && r.Version != "3.1" && r.Version != "4.0" {
			t.Fatalf("Score(%q): version %q", v, r.Version)
		}
		if r.Vector != strings.TrimSpace(v) {
			t.Fatalf("Score(%q): vector %q, want the trimmed input", v, r.Vector)
		}
	})
}
