package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// TestContentDefinedChunkingRelease: a release published with
// content-defined leaves (--chunker rabin-...) passes the seed's re-chunking
// check, and a device fetches, verifies and installs it. A misspelt chunker
// is refused with one line.
func TestContentDefinedChunkingRelease(t *testing.T) {
	f := newDiskFleet(t)
	if _, e, code := f.tryPublish(t, "1.5.0", 1<<20, "--chunker", "rabin-1-2"); code == 0 || e == "" {
		t.Fatalf("a malformed --chunker was accepted (exit %d)", code)
	}
	data := filepath.Join(f.dir, "data")
	cfg := f.config(t, data)
	startProc(t, filepath.Join(f.dir, "dev.log"), "node", "--config", cfg)
	waitStatus(t, data, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	sum, e, code := f.tryPublish(t, "2.0.0", 3<<20, "--chunker", "rabin-16384-65536-262144")
	if code != 0 {
		t.Fatalf("publish with a content-defined chunker: %s", e)
	}
	waitStatus(t, data, "install", 60*time.Second, func(s node.Status) bool {
		r := s.Releases["plc-fw@2.0.0"]
		return r != nil && r.Phase == policy.PhaseInstalled
	})
	b, err := os.ReadFile(f.installed)
	got := sha256.Sum256(b)
	if err != nil || hex.EncodeToString(got[:]) != sum {
		t.Fatalf("installed file differs from the release (err %v)", err)
	}
}
