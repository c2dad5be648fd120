package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// TestOperatorFlow drives the asset owner's workflow with real processes and
// the real CLI: a safety-related device waits for an authorisation with an
// SIA reference, `tocsin authorise` gives it over the device's control
// socket, the device installs, and once it is stopped `tocsin audit verify`
// and `tocsin audit export` show the evidence.
func TestOperatorFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped in -short mode")
	}
	dir := t.TempDir()
	key, op, root := filepath.Join(dir, "supplier.key"), filepath.Join(dir, "operator.key"), filepath.Join(dir, "root.json")
	for _, args := range [][]string{
		{"keygen", "-o", key}, {"keygen", "-o", op}, {"root", "init", "--root-key", key, "-o", root},
	} {
		if _, e, code := tocsin(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, e)
		}
	}
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(`version: 1
operator_keys: [operator.key.pub]
zones: [{name: cell, target_sl: 2}]
groups: [{name: safety, zone: cell, safety_related: true}]
rollout: {waves: [1.0], soak: 0s}
`), 0o600)
	if out, e, code := tocsin(t, "policy", "check", pol); code != 0 || !strings.Contains(out, "safety") {
		t.Fatalf("policy check: %s %s", out, e)
	}

	seedDir := filepath.Join(dir, "seed")
	os.MkdirAll(seedDir, 0o700)
	startProc(t, filepath.Join(seedDir, "out.log"), "seed", "--data", seedDir, "--trust-root", root, "--listen", "/ip4/127.0.0.1/tcp/0")
	seedSt := waitStatus(t, seedDir, "seed addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	devDir := filepath.Join(dir, "dev")
	cfg := writeConfig(t, devDir, root, seedSt.Addrs)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("policy: "+pol+"\ngroup: safety\n")...), 0o600)
	dev := startProc(t, filepath.Join(devDir, "out.log"), "node", "--config", cfg)
	waitStatus(t, devDir, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })

	file := filepath.Join(dir, "fw.bin")
	os.WriteFile(file, []byte(strings.Repeat("firmware ", 40000)), 0o600)
	_, e, code := tocsin(t, "publish", "--key", key, "--seed-dir", seedDir, "--product", "plc-fw", "--version", "2.0.0",
		"--file", file, "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--exploited", "active", "--deployed", "5000")
	if code != 0 || !strings.Contains(e, "delivery: immediate") {
		t.Fatalf("publish: %d %s", code, e)
	}
	const id = "plc-fw@2.0.0"
	waitStatus(t, devDir, "awaiting a decision", 30*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Fetched && r.Lifecycle.State == policy.StateInInternalTest
	})
	out, _, _ := tocsin(t, "status", "--data", devDir)
	if !strings.Contains(out, "in-internal-test") {
		t.Fatalf("tocsin status does not show the waiting release:\n%s", out)
	}
	if _, e, code := tocsin(t, "authorise", "--key", op, "--release", id, "--group", "safety", "--sia", "SIA-77", "--data", devDir); code != 0 {
		t.Fatalf("authorise: %s", e)
	}
	st := waitStatus(t, devDir, "installed", 30*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Lifecycle.State == policy.StateInstalled
	})
	if st.Releases[id].Deadline.IsZero() {
		t.Fatal("the advisory's SUM-5 deadline did not reach the device")
	}

	// A forged decision (another key) is refused by the node.
	rogue := filepath.Join(dir, "rogue.key")
	tocsin(t, "keygen", "-o", rogue)
	if _, e, code := tocsin(t, "reject", "--key", rogue, "--release", id, "--data", devDir); code == 0 || !strings.Contains(e, "key") {
		t.Fatalf("forged decision accepted: %d %s", code, e)
	}

	dev.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("device did not stop")
	}
	out, e, code = tocsin(t, "audit", "verify", "--data", devDir)
	if code != 0 || !strings.Contains(out, "audit log ok") {
		t.Fatalf("audit verify: %d %s %s", code, out, e)
	}
	prefix := filepath.Join(dir, "evidence")
	if _, e, code := tocsin(t, "audit", "export", id, "--data", devDir, "-o", prefix); code != 0 {
		t.Fatalf("audit export: %s", e)
	}
	var ev struct {
		SIA            string `json:"sia"`
		AuthorisedBy   string `json:"authorised_by"`
		DeadlineStatus string `json:"deadline_status"`
	}
	jb, _ := os.ReadFile(prefix + ".json")
	if err := json.Unmarshal(jb, &ev); err != nil || ev.SIA != "SIA-77" || !strings.HasPrefix(ev.AuthorisedBy, "operator ") || ev.DeadlineStatus != "met" {
		t.Fatalf("evidence %+v (%v)", ev, err)
	}
	if md, _ := os.ReadFile(prefix + ".md"); !strings.Contains(string(md), "SIA-77") {
		t.Fatal("markdown evidence lacks the SIA reference")
	}
}
