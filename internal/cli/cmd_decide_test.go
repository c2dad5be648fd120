package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/cli"
	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

const (
	vecCritical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	vecHigh     = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H" // 7.8
	vecMedium   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N" // 5.3
	vecNone     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N" // 0.0
	vec40       = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
)

// runDecide runs "tocsin decide args..." in process.
func runDecide(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := cli.NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"decide"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestDecideText(t *testing.T) {
	tests := []struct {
		args []string
		last string
		has  []string
	}{
		{[]string{"--cvss", vecCritical, "--exploited", "active", "--workaround", "no", "--deployed", "1200"},
			"7 days (class: immediate)", []string{"score:      9.8 CRITICAL (CVSS 3.1)", "workaround: no"}},
		{[]string{"--cvss", vecHigh, "--exploited", "none", "--workaround", "yes", "--deployed", "10"},
			"90 days (class: scheduled)", []string{"7.8 HIGH", "reason:     HIGH with none exploitation: scheduled"}},
		{[]string{"--cvss", vecMedium, "--exploited", "POC", "--workaround", "Yes", "--deployed", "50"},
			"90 days (class: scheduled)", []string{"5.3 MEDIUM", "exploited:  poc"}},
		{[]string{"--cvss", vecMedium, "--exploited", "none", "--workaround", "yes", "--deployed", "0"},
			"180 days (class: next-release)", nil},
		{[]string{"--cvss", vecNone, "--exploited", "active", "--workaround", "no", "--deployed", "100000"},
			"180 days (class: next-release)", []string{"0.0 NONE"}},
		{[]string{"--cvss", vec40, "--exploited", "none", "--workaround", "yes", "--deployed", "1"},
			"30 days (class: expedited)", []string{"(CVSS 4.0)"}},
		{[]string{"--cvss", vecCritical, "--exploited", "none", "--workaround", "no", "--deployed", "5", "--published", "2025-03-01"},
			"30 days (class: expedited)", []string{"due:        2025-03-31"}},
		{[]string{"--cvss", vecCritical, "--exploited", "active", "--workaround", "no", "--deployed", "5", "--published", "2025-03-01T10:00:00+01:00"},
			"7 days (class: immediate)", []string{"due:        2025-03-08T10:00:00+01:00"}},
	}
	for _, tt := range tests {
		out, err := runDecide(t, tt.args...)
		if err != nil {
			t.Errorf("decide %v: %v", tt.args, err)
			continue
		}
		if got := lastLine(out); got != tt.last {
			t.Errorf("decide %v: last line %q, want %q\n%s", tt.args, got, tt.last, out)
		}
		for _, h := range tt.has {
			if !strings.Contains(out, h) {
				t.Errorf("decide %v: output lacks %q:\n%s", tt.args, h, out)
			}
		}
	}
}

func TestDecideJSON(t *testing.T) {
	out, err := runDecide(t, "--cvss", vecHigh, "--exploited", "poc", "--workaround", "no", "--deployed", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	want := map[string]any{"class": "immediate", "deadline_days": 7.0, "base_score": 7.8, "severity": "HIGH"}
	if len(got) != len(want) {
		t.Errorf("JSON keys %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("JSON %q = %v, want %v", k, got[k], v)
		}
	}

	out, err = runDecide(t, "--cvss", vecHigh, "--exploited", "none", "--workaround", "yes", "--deployed", "3", "--json", "--published", "2025-01-01")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"due":"2025-04-01"`) || !strings.Contains(out, `"class":"scheduled"`) {
		t.Errorf("JSON with --published = %s", out)
	}
}

func TestDecideInvalid(t *testing.T) {
	ok := []string{"--cvss", vecHigh, "--exploited", "none", "--workaround", "yes", "--deployed", "3"}
	with := func(flag, value string) []string {
		args := append([]string(nil), ok...)
		for i := 0; i < len(args); i += 2 {
			if args[i] == flag {
				args[i+1] = value
				return args
			}
		}
		return append(args, flag, value)
	}
	without := func(flag string) []string {
		var args []string
		for i := 0; i < len(ok); i += 2 {
			if ok[i] != flag {
				args = append(args, ok[i], ok[i+1])
			}
		}
		return args
	}
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"bad vector", with("--cvss", "CVSS:3.1/AV:X"), "--cvss: invalid CVSS vector"},
		{"not a vector", with("--cvss", "9.8"), "must start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/"},
		{"bad exploited", with("--exploited", "maybe"), `--exploited must be active, poc or none, not "maybe"`},
		{"bad workaround", with("--workaround", "sometimes"), `--workaround must be yes or no, not "sometimes"`},
		{"negative deployed", with("--deployed", "-1"), "--deployed must be 0 or more, not -1"},
		{"non-numeric deployed", with("--deployed", "many"), `invalid argument "many" for "--deployed"`},
		{"bad published", with("--published", "1 March"), `--published must be YYYY-MM-DD or RFC 3339, not "1 March"`},
		{"missing cvss", without("--cvss"), `required flag(s) "cvss" not set`},
		{"missing exploited", without("--exploited"), `required flag(s) "exploited" not set`},
		{"missing workaround", without("--workaround"), `required flag(s) "workaround" not set`},
		{"missing deployed", without("--deployed"), `required flag(s) "deployed" not set`},
		{"unknown flag", append(append([]string(nil), ok...), "--fast"), "unknown flag: --fast"},
		{"extra argument", append(append([]string(nil), ok...), "now"), `unknown command "now"`},
	}
	for _, tt := range tests {
		out, err := runDecide(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: decide %v: error %v, want one containing %q", tt.name, tt.args, err, tt.msg)
		}
		if out != "" {
			t.Errorf("%s: printed output despite the error: %q", tt.name, out)
		}
	}
	if _, err := runDecide(t, with("--cvss", "CVSS:3.1/AV:N")...); !errors.Is(err, cvss.ErrInvalidVector) {
		t.Errorf("bad vector error %v does not wrap cvss.ErrInvalidVector", err)
	}
}

func TestDecideMainOneLineError(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"decide", "--cvss", vecHigh, "--exploited", "sometimes", "--workaround", "no", "--deployed", "1"}, &out, &errOut)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := errOut.String(); !strings.HasPrefix(got, "tocsin: --exploited must be") || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr = %q, want one line starting with \"tocsin: \"", got)
	}

	out.Reset()
	errOut.Reset()
	code = cli.Main(context.Background(), []string{"decide", "--cvss", vecCritical, "--exploited", "active", "--workaround", "no", "--deployed", "1"}, &out, &errOut)
	if code != 0 || errOut.Len() != 0 || lastLine(out.String()) != "7 days (class: immediate)" {
		t.Errorf("exit %d, stderr %q, stdout %q", code, errOut.String(), out.String())
	}
}

func TestDecideHelp(t *testing.T) {
	root := cli.NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"decide", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IEC 62443-4-1 SUM-5", "Examples:", "--exploited active", "immediate 7 days"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
