package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	golog "github.com/ipfs/go-log/v2"
)

// TestJSONLogsIncludeLibraries: with --log-format json every line is a JSON
// object, including what the libraries log through go-log.
func TestJSONLogsIncludeLibraries(t *testing.T) {
	var buf bytes.Buffer
	logFormat = "json"
	defer func() { logFormat = "text" }()
	log := newLogger(&buf, "info")
	log.Info("node started", "peer", "12D3")
	golog.Logger("bitswap-test").Warn("peer misbehaved")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
	}
	if !strings.Contains(lines[1], `"msg":"peer misbehaved"`) || !strings.Contains(lines[1], `"logger":"bitswap-test"`) {
		t.Fatalf("library line %q", lines[1])
	}
}
