package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tocsin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "tocsin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tocsin-iiot/tocsin/cmd/tocsin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build tocsin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func tocsin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tocsin %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func startProc(t *testing.T, logPath string, args ...string) *exec.Cmd {
	t.Helper()
	return startProcEnv(t, logPath, nil, args...)
}

// startProcEnv starts tocsin with extra environment variables.
func startProcEnv(t *testing.T, logPath string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

func waitStatus(t *testing.T, dir string, what string, timeout time.Duration, cond func(node.Status) bool) node.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := node.ReadStatus(dir)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "out.log"))
			t.Fatalf("timed out waiting for %s in %s (status err %v)\nlog:\n%s", what, dir, err, tail(string(log), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func writeConfig(t *testing.T, dir, root string, boot []string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`data_dir: %q
listen: ["/ip4/127.0.0.1/tcp/0"]
trust_root: %q
bootstrap: [%s]
products:
  - id: plc-fw
    version: 1.0.0
installer:
  command: ["sh", "-c", "cp \"$TOCSIN_FILE\" \"$TOCSIN_DATA_DIR/installed.bin\""]
  timeout: 1m
`, dir, root, `"`+strings.Join(boot, `","`)+`"`)
	p := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKillMidDownloadResumes: a device is SIGKILLed in the middle of a
// download (the seed's upload is capped so the download takes seconds),
// restarted, and finishes with a verified file. The blocks it had stored
// before the kill are not fetched again.
func TestKillMidDownloadResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped in -short mode")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "supplier.key")
	if _, e, code := tocsin(t, "keygen", "--type", "supplier", "-o", key); code != 0 {
		t.Fatalf("keygen: %s", e)
	}
	root := filepath.Join(dir, "root.json")
	if _, e, code := tocsin(t, "root", "init", "--root-key", key, "-o", root); code != 0 {
		t.Fatalf("root init: %s", e)
	}
	seedDir := filepath.Join(dir, "seed")
	os.MkdirAll(seedDir, 0o700)
	startProc(t, filepath.Join(seedDir, "out.log"), "seed", "--data", seedDir, "--trust-root", root,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--max-upload-rate", "2MiB/s", "--super-seed-interval", "0s")
	seedSt := waitStatus(t, seedDir, "seed addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })

	devDir := filepath.Join(dir, "dev")
	cfg := writeConfig(t, devDir, root, seedSt.Addrs)
	dev := startProc(t, filepath.Join(devDir, "out.log"), "node", "--config", cfg)
	waitStatus(t, devDir, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })

	data := make([]byte, 16<<20)
	rand.Read(data)
	file := filepath.Join(dir, "fw.bin")
	os.WriteFile(file, data, 0o600)
	if _, e, code := tocsin(t, "publish", "--key", key, "--seed-dir", seedDir, "--product", "plc-fw", "--version", "2.0.0",
		"--file", file, "--chunk-size", "256KiB", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--json"); code != 0 {
		t.Fatalf("publish: %s", e)
	}
	const id = "plc-fw@2.0.0"
	waitStatus(t, devDir, "a quarter of the blocks", 60*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Fetch.BlocksFetched >= 16
	})
	if err := dev.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = dev.Wait()

	// Count what survived the kill, straight from the badger store.
	st, err := content.OpenStore(filepath.Join(devDir, "store"), content.StoreConfig{})
	if err != nil {
		t.Fatalf("store after SIGKILL: %v", err)
	}
	keys, err := st.Blocks.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for range keys {
		stored++
	}
	st.Close()
	if stored == 0 || stored >= 65 {
		t.Fatalf("%d blocks stored at kill time; the kill did not land mid-download", stored)
	}

	startProc(t, filepath.Join(devDir, "out2.log"), "node", "--config", cfg)
	final := waitStatus(t, devDir, "install after restart", 90*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Phase == policy.PhaseInstalled
	})
	r := final.Releases[id]
	t.Logf("blocks: %d total, %d stored before the kill, %d present at restart, %d fetched after restart, %d of the stored ones received again, %d redundant copies of missing ones",
		r.Fetch.BlocksTotal, stored, r.Fetch.BlocksPresent, r.Fetch.BlocksFetched, r.Fetch.Refetched, int(r.Fetch.DupBlocks)-r.Fetch.Refetched)
	if r.Fetch.BlocksPresent != stored {
		t.Fatalf("restart found %d blocks present, the store held %d", r.Fetch.BlocksPresent, stored)
	}
	if r.Fetch.BlocksFetched != r.Fetch.BlocksTotal-stored {
		t.Fatalf("fetched %d blocks after restart, want exactly the %d missing", r.Fetch.BlocksFetched, r.Fetch.BlocksTotal-stored)
	}
	if r.Fetch.Refetched != 0 {
		t.Fatalf("%d blocks stored before the kill were fetched again", r.Fetch.Refetched)
	}
	got, err := os.ReadFile(filepath.Join(devDir, "installed.bin"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("installed file differs from the release (err %v)", err)
	}
}

// TestBadInput: every command turns bad input into one clear line on stderr
// and a non-zero exit, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	if _, e, code := tocsin(t, "keygen", "-o", key); code != 0 {
		t.Fatalf("keygen: %s", e)
	}
	root := filepath.Join(dir, "root.json")
	if _, e, code := tocsin(t, "root", "init", "--root-key", key, "-o", root); code != 0 {
		t.Fatalf("root init: %s", e)
	}
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(key)
	os.WriteFile(open, b, 0o644)
	garbageKey := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbageKey, []byte("not a key"), 0o600)
	file := filepath.Join(dir, "f.bin")
	os.WriteFile(file, []byte("firmware"), 0o600)
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("data_dir: x\ntrust_root: root.json\nproducts:\n  - id: a\n    versoin: 1\n"), 0o600)
	noKey := filepath.Join(dir, "nokey.yaml")
	os.WriteFile(noKey, []byte("data_dir: x\ntrust_root: missing-root.json\ninstaller: {command: [true]}\n"), 0o600)
	badRoot := filepath.Join(dir, "badroot.yaml")
	os.WriteFile(badRoot, []byte("data_dir: x\ntrust_root: f.bin\ninstaller: {command: [true]}\n"), 0o600)
	badPeer := filepath.Join(dir, "badpeer.yaml")
	os.WriteFile(badPeer, []byte("data_dir: x\ntrust_root: root.json\nbootstrap: [\"/ip4/1.2.3.4/tcp/1\"]\ninstaller: {command: [true]}\n"), 0o600)

	cases := []struct {
		name string
		args []string
		want string // a word the message must contain
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"publish", "--nope"}, "unknown flag"},
		{"keygen existing file", []string{"keygen", "-o", key}, "exists"},
		{"keygen bad type", []string{"keygen", "--type", "rsa", "-o", filepath.Join(dir, "x")}, "--type"},
		{"publish missing file", []string{"publish", "--key", key, "--product", "p", "--version", "1", "--file", filepath.Join(dir, "missing.bin")}, "no such file"},
		{"publish unreadable key", []string{"publish", "--key", filepath.Join(dir, "missing.key"), "--product", "p", "--version", "1", "--file", file}, "key file"},
		{"publish key readable by others", []string{"publish", "--key", open, "--product", "p", "--version", "1", "--file", file}, "chmod 600"},
		{"publish garbage key", []string{"publish", "--key", garbageKey, "--product", "p", "--version", "1", "--file", file}, "PRIVATE KEY"},
		{"publish wrong product id", []string{"publish", "--key", key, "--product", "bad id!", "--version", "1", "--file", file}, "product"},
		{"publish no seed", []string{"publish", "--key", key, "--product", "p", "--version", "1", "--file", file, "--seed-dir", filepath.Join(dir, "noseed"),
			"--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "no seed"},
		{"publish without cvss", []string{"publish", "--key", key, "--product", "p", "--version", "1", "--file", file}, "CVSS"},
		{"root init without key", []string{"root", "init", "-o", filepath.Join(dir, "r.json")}, "--root-key"},
		{"root init zero threshold", []string{"root", "init", "--root-key", key, "--release-threshold", "0", "-o", filepath.Join(dir, "r0.json")}, "threshold"},
		{"root show garbage", []string{"root", "show", file}, "malformed"},
		{"root rotate unsigned", []string{"root", "rotate", "--from", file, "-o", filepath.Join(dir, "r2.json")}, "malformed"},
		{"announce no seed", []string{"announce", "--seed-dir", filepath.Join(dir, "noseed"), root}, "no seed"},
		{"recall without reason", []string{"recall", "--product", "p", "--version", "1"}, "--reason"},
		{"node garbage trust root", []string{"node", "--config", badRoot}, "trust_root"},
		{"publish bad cvss", []string{"publish", "--key", key, "--product", "p", "--version", "1", "--file", file, "--cvss", "CVSS:3.1/AV:X"}, "CVSS"},
		{"node no config", []string{"node"}, "--config"},
		{"node missing config", []string{"node", "--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{"node misspelt option", []string{"node", "--config", badYAML}, "line 5"},
		{"node missing trust root", []string{"node", "--config", noKey}, "missing-root.json"},
		{"node bad bootstrap", []string{"node", "--config", badPeer}, "bootstrap"},
		{"seed no trust root", []string{"seed", "--data", filepath.Join(dir, "s")}, "trust_root"},
		{"seed bad listen", []string{"seed", "--data", filepath.Join(dir, "s2"), "--trust-root", root, "--listen", "nonsense"}, "multiaddr"},
		{"seed heartbeat key missing", []string{"seed", "--data", filepath.Join(dir, "s3"), "--trust-root", root, "--heartbeat-key", filepath.Join(dir, "none.key"), "--listen", "/ip4/127.0.0.1/tcp/0"}, "heartbeat_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := tocsin(t, c.args...)
			if code == 0 {
				t.Fatalf("exit 0; stdout %q", out)
			}
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "tocsin: ") {
				t.Fatalf("want one line starting 'tocsin: ', got %q", errOut)
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine") {
				t.Fatalf("panic: %s", errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Fatalf("message %q does not mention %q", lines[0], c.want)
			}
		})
	}
}
