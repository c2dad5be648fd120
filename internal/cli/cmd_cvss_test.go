package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/cli"
	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

// cvssCmdRun runs the whole CLI in process, as main does, and returns the
// exit code, standard output and standard error.
func cvssCmdRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// assertOneLineError checks the CLI's error convention: exit code 1, nothing
// on stdout, exactly one "tocsin: ..." line on stderr mentioning want.
func assertOneLineError(t *testing.T, code int, stdout, stderr, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1 (stderr %q)", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing on error", stdout)
	}
	if !strings.HasPrefix(stderr, "tocsin: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr %q, want one line starting with 'tocsin: '", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not mention %q", stderr, want)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr has a stack trace: %q", stderr)
	}
}

func TestCVSSCommandText(t *testing.T) {
	for _, c := range []struct{ vector, want string }{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8 CRITICAL (CVSS 3.1)\n"},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "5.3 MEDIUM (CVSS 3.0)\n"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0 NONE (CVSS 3.1)\n"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0 CRITICAL (CVSS 3.1)\n"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "9.3 CRITICAL (CVSS 4.0)\n"},
	} {
		code, out, errOut := cvssCmdRun(t, "cvss", c.vector)
		if code != 0 || out != c.want || errOut != "" {
			t.Errorf("tocsin cvss %s: exit %d, stdout %q, stderr %q; want %q", c.vector, code, out, errOut, c.want)
		}
		// The first token is the score, parseable as a number.
		first, _, _ := strings.Cut(out, " ")
		if f, err := strconv.ParseFloat(first, 64); err != nil || f < 0 || f > 10 {
			t.Errorf("first token %q is not a score", first)
		}
	}
}

func TestCVSSCommandJSON(t *testing.T) {
	const vec = "CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:H/VA:L/SC:N/SI:N/SA:L"
	code, out, errOut := cvssCmdRun(t, "cvss", "--json", vec)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if keys := jsonKeys(t, out); !slices.Equal(keys, []string{"version", "vector", "base_score", "severity"}) {
		t.Errorf("keys %v", keys)
	}
	var got struct {
		Version   string  `json:"version"`
		Vector    string  `json:"vector"`
		BaseScore float64 `json:"base_score"`
		Severity  string  `json:"severity"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want, err := cvss.Score(vec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "4.0" || got.Vector != vec || got.BaseScore != want.BaseScore || got.Severity != want.Severity {
		t.Errorf("JSON %+v, want %+v", got, want)
	}
}

func TestCVSSCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cvss", "bogus"}, "invalid CVSS vector"},
		{[]string{"cvss", "CVSS:3.1/AV:N/AC:L"}, "invalid CVSS vector"},
		{[]string{"cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\nsecond line"}, "invalid CVSS vector"},
		{[]string{"cvss"}, "accepts 1 arg"},
		{[]string{"cvss", "a", "b"}, "accepts 1 arg"},
		{[]string{"cvss", "--nope", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "unknown flag"},
	} {
		code, out, errOut := cvssCmdRun(t, c.args...)
		t.Run(fmt.Sprint(c.args), func(t *testing.T) { assertOneLineError(t, code, out, errOut, c.want) })
	}
}

// jsonKeys returns the top-level keys of a JSON object in document order.
func jsonKeys(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %q", s)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
