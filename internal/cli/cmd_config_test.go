package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigInitPassesCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.yaml")
	if code, out, errOut := cvssCmdRun(t, "config", "init", "-o", p); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	code, out, errOut := cvssCmdRun(t, "config", "check", p)
	if code != 0 || !strings.Contains(out, "ok (role device") || !strings.Contains(out, "root.json does not exist") {
		t.Fatalf("check of the example: %d %q %q", code, out, errOut)
	}
	// A misspelt option is reported with its line.
	b, _ := os.ReadFile(p)
	lines := strings.Split(string(b), "\n")
	line := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "stall_timeout:") {
			lines[i] = strings.Replace(l, "stall_timeout", "stall_timout", 1)
			line = i + 1
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644)
	code, out, errOut = cvssCmdRun(t, "config", "check", bad)
	assertOneLineError(t, code, out, errOut, "line "+itoa(line))
	if !strings.Contains(errOut, "stall_timout") {
		t.Fatalf("error does not name the option: %s", errOut)
	}
	// Environment overrides apply and are checked.
	t.Setenv("TOCSIN_LOG_LEVEL", "chatty")
	code, out, errOut = cvssCmdRun(t, "config", "check", p)
	assertOneLineError(t, code, out, errOut, "log_level")
}

func itoa(n int) string {
	s := ""
	for n > 0 || s == "" {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
