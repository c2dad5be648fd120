package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Reliability check 11 (issue 9): a full disk and a read-only data dir.
// Real processes: a seed and one device on 127.0.0.1, the device's data dir
// on a small tmpfs (disk full) or behind a read-only bind mount. What must
// hold: a clear error (one line, naming the cause — not a crash), nothing
// corrupted (the store opens, `tocsin audit verify` passes), nothing
// installed twice, and recovery once space or write access returns.
// Figures are logged as "reliability: key=value" lines.

// reliabilitySuite skips a test unless internal/reliability runs it (it
// sets TOCSIN_RELIABILITY=1): these tests mount file systems, take tens of
// seconds, and some document defects not yet fixed, so plain `go test ./...`
// leaves them out.
func reliabilitySuite(t *testing.T) {
	t.Helper()
	if os.Getenv("TOCSIN_RELIABILITY") == "" {
		t.Skip("reliability suite only: run `make reliability` (or set TOCSIN_RELIABILITY=1)")
	}
	if testing.Short() {
		t.Skip("reliability suite: skipped in -short mode")
	}
}

// needMounts skips unless the test can mount file systems (root on Linux).
func needMounts(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("mounts: Linux only (GOOS=%s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skipf("mounts: needs root to mount a tmpfs or a read-only bind mount (euid %d); run the test as root", os.Geteuid())
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("mounts: mount(8) not found")
	}
}

func mountCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Skipf("mounts: mount %s: %v: %s (no CAP_SYS_ADMIN here?)", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// unmount unmounts dir once (the topmost mount), lazily if it is busy.
func unmount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
			t.Errorf("umount %s: %v: %s; %v: %s", dir, err, out, err2, out2)
		}
	}
}

// diskFleet is a supplier, a seed process and the paths of one device.
type diskFleet struct {
	dir, key, root, seedDir string
	seedAddrs               []string
	seedListen              string // a fixed port, so a restarted seed is found again
	seed                    *exec.Cmd
	installed, installs     string // the device's installer copies the file here and logs each run here
}

func newDiskFleet(t *testing.T) *diskFleet {
	t.Helper()
	dir := t.TempDir()
	f := &diskFleet{dir: dir, key: filepath.Join(dir, "supplier.key"), root: filepath.Join(dir, "root.json"),
		seedDir: filepath.Join(dir, "seed"), installed: filepath.Join(dir, "installed.bin"), installs: filepath.Join(dir, "installs.log")}
	for _, args := range [][]string{
		{"keygen", "--type", "supplier", "-o", f.key},
		{"root", "init", "--root-key", f.key, "-o", f.root},
	} {
		if _, e, code := tocsin(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, e)
		}
	}
	os.MkdirAll(f.seedDir, 0o700)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.seedListen = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	f.restartSeed(t, nil)
	return f
}

// restartSeed stops the seed if it runs and starts it with env added.
func (f *diskFleet) restartSeed(t *testing.T, env []string) {
	t.Helper()
	if f.seed != nil && f.seed.ProcessState == nil {
		stop(t, f.seed)
	}
	os.Remove(filepath.Join(f.seedDir, "control.sock"))
	os.Remove(filepath.Join(f.seedDir, "status.json"))
	f.seed = startProcEnv(t, filepath.Join(f.seedDir, "out.log"), env, "seed", "--data", f.seedDir, "--trust-root", f.root, "--listen", f.seedListen)
	f.seedAddrs = waitStatus(t, f.seedDir, "seed addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 }).Addrs
}

// config writes the device's config outside its data dir (which may be
// full or read-only); the installer copies the file and logs the run
// outside it too.
func (f *diskFleet) config(t *testing.T, dataDir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir: %q
listen: ["/ip4/127.0.0.1/tcp/0"]
trust_root: %q
bootstrap: ["%s"]
products:
  - id: plc-fw
    version: 1.0.0
installer:
  command: ["sh", "-c", "cp \"$TOCSIN_FILE\" \"$0\" && echo \"$TOCSIN_RELEASE_ID\" >> \"$1\"", %q, %q]
  timeout: 1m
`, dataDir, f.root, strings.Join(f.seedAddrs, `", "`), f.installed, f.installs)
	p := filepath.Join(f.dir, "node-"+filepath.Base(dataDir)+".yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// publish publishes size random bytes as plc-fw@version and returns the
// file's sha256.
func (f *diskFleet) publish(t *testing.T, version string, size int) string {
	t.Helper()
	sum, e, code := f.tryPublish(t, version, size)
	if code != 0 {
		t.Fatalf("publish: %s", e)
	}
	return sum
}

// tryPublish publishes size random bytes as plc-fw@version and returns the
// file's sha256, publish's stderr and its exit code.
func (f *diskFleet) tryPublish(t *testing.T, version string, size int, extra ...string) (sum, stderr string, code int) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	file := filepath.Join(f.dir, "fw-"+version+".bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = tocsin(t, append([]string{"publish", "--key", f.key, "--seed-dir", f.seedDir, "--product", "plc-fw", "--version", version,
		"--file", file, "--chunk-size", "256KiB", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--json"}, extra...)...)
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), stderr, code
}

// exited reports whether cmd ended within d, and its exit code.
func exited(cmd *exec.Cmd, d time.Duration) (bool, int) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true, cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return false, 0
	}
}

// stop ends a node gracefully (SIGTERM) and waits for it.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if ok, _ := exited(cmd, 15*time.Second); !ok {
		_ = cmd.Process.Kill()
		t.Error("node did not stop within 15 s of SIGTERM")
	}
}

// crashed reports whether a log shows a Go runtime crash or panic rather
// than an error the node reported.
func crashed(log string) bool {
	for _, s := range []string{"fatal error:", "panic:", "SIGBUS", "SIGSEGV", "goroutine 1 ["} {
		if strings.Contains(log, s) {
			return true
		}
	}
	return false
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

// dirDigest hashes every regular file under dir (names and contents).
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		fmt.Fprintf(h, "%s\x00", strings.TrimPrefix(p, dir))
		_, err = io.Copy(h, fh)
		return err
	})
	if err != nil {
		t.Fatalf("digest %s: %v", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// auditVerify runs `tocsin audit verify` on a stopped node's data dir.
func auditVerify(t *testing.T, dataDir string) {
	t.Helper()
	if out, e, code := tocsin(t, "audit", "verify", "--data", dataDir); code != 0 {
		t.Errorf("audit verify after the fault: exit %d: %s %s", code, out, e)
	}
}

func installedOnce(t *testing.T, installs, id string) int {
	t.Helper()
	n := strings.Count(readFile(installs), id+"\n")
	if n != 1 {
		t.Errorf("the installer ran %d times for %s, want once", n, id)
	}
	return n
}

// TestReliabilityDiskFull: the device's data dir is a 2 MiB tmpfs and an
// 8 MiB release arrives. The node must say clearly that the disk is full
// (and not crash), install nothing, corrupt nothing; once the file system
// is grown to 128 MiB (and the node restarted, if it had stopped) the fetch
// completes, resuming from what was stored, and installs once.
func TestReliabilityDiskFull(t *testing.T) {
	reliabilitySuite(t)
	needMounts(t)
	f := newDiskFleet(t)
	data := filepath.Join(f.dir, "data")
	os.MkdirAll(data, 0o700)
	mountCmd(t, "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", data)
	t.Cleanup(func() { unmount(t, data) })
	cfg := f.config(t, data)
	logPath := filepath.Join(f.dir, "dev.log")
	dev := startProc(t, logPath, "node", "--config", cfg)
	waitStatus(t, data, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	const id = "plc-fw@2.0.0"
	sum := f.publish(t, "2.0.0", 8<<20)

	// Give the node 20 s to hit the full disk and say so (or die).
	exitc := make(chan struct{})
	go func() { _ = dev.Wait(); close(exitc) }()
	var reported string
	died, code := false, 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !died && reported == ""; {
		select {
		case <-exitc:
			died, code = true, dev.ProcessState.ExitCode()
		case <-time.After(200 * time.Millisecond):
			if st, err := netnsLiveStatus(data); err == nil && st.Releases[id] != nil {
				reported = st.Releases[id].Error
			}
		}
	}
	log := readFile(logPath)
	clear := strings.Contains(log+reported, "no space left on device") || strings.Contains(strings.ToLower(log+reported), "disk full") ||
		strings.Contains(strings.ToLower(log+reported), "not enough disk space")
	crash := crashed(log)
	switch {
	case crash:
		i := max(0, strings.Index(log, "fatal error:"))
		t.Errorf("disk full: the node crashed (exit %d) instead of reporting an error:\n%s", code, log[i:min(len(log), i+900)])
	case died && !strings.Contains(tail(log, 400), "tocsin: "):
		t.Errorf("disk full: the node exited %d without a one-line error:\n%s", code, tail(log, 600))
	case !clear:
		t.Errorf("disk full: no clear error naming the full disk (status error %q); log:\n%s", reported, tail(log, 600))
	}
	if readFile(f.installs) != "" {
		t.Fatal("something was installed from a full disk")
	}

	// Space returns.
	mountCmd(t, "-o", "remount,size=128m", data)
	recovered := time.Now()
	restarted := 0
	if died {
		restarted = 1 // as a supervisor (systemd Restart=) would
		dev = startProc(t, filepath.Join(f.dir, "dev2.log"), "node", "--config", cfg)
	}
	final := waitStatus(t, data, "install once space returns", 60*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Phase == policy.PhaseInstalled
	})
	recoverS := time.Since(recovered).Seconds()
	if b, err := os.ReadFile(f.installed); err != nil || func() string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }() != sum {
		t.Errorf("installed file differs from the release (err %v)", err)
	}
	installedOnce(t, f.installs, id)
	stop(t, dev)
	auditVerify(t, data)
	r := final.Releases[id]
	t.Logf("reliability: injected=1 fs_size_mib=2 release_mib=8 crashed=%t clear_error=%t restarted=%d recover_s=%.1f blocks_present_after=%d blocks_fetched_after=%d",
		crash, clear, restarted, recoverS, r.Fetch.BlocksPresent, r.Fetch.BlocksFetched)
}

// TestReliabilityReadOnlyDataDir: (1) a node whose data dir is mounted
// read-only refuses to start with one clear line, and changes nothing in
// it; (2) a running node whose data dir becomes read-only under it (a
// read-only bind mount over it: new files cannot be made) while a release
// arrives reports the failure, installs nothing, and once the dir is
// writable again fetches and installs the release once.
func TestReliabilityReadOnlyDataDir(t *testing.T) {
	reliabilitySuite(t)
	needMounts(t)
	f := newDiskFleet(t)
	data := filepath.Join(f.dir, "data")
	os.MkdirAll(data, 0o700)
	cfg := f.config(t, data)
	dev := startProc(t, filepath.Join(f.dir, "dev.log"), "node", "--config", cfg)
	waitStatus(t, data, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	f.publish(t, "2.0.0", 1<<20)
	waitStatus(t, data, "first install", 60*time.Second, func(s node.Status) bool {
		r := s.Releases["plc-fw@2.0.0"]
		return r != nil && r.Phase == policy.PhaseInstalled
	})
	stop(t, dev)
	os.Remove(filepath.Join(data, "control.sock"))

	// (1) Start on a read-only data dir.
	before := dirDigest(t, data)
	mountCmd(t, "--bind", data, data)
	mountCmd(t, "-o", "remount,bind,ro", data)
	_, errOut, code := func() (string, string, int) {
		done := make(chan struct{})
		var o, e string
		var c int
		go func() { o, e, c = tocsin(t, "node", "--config", cfg); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the node started on a read-only data dir and did not exit within 20 s")
		}
		return o, e, c
	}()
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	startClear := code != 0 && len(lines) >= 1 && strings.HasPrefix(lines[len(lines)-1], "tocsin: ") && strings.Contains(errOut, "read-only file system")
	if !startClear {
		t.Errorf("read-only data dir at start: exit %d, stderr %q; want a non-zero exit and one line naming the read-only file system", code, tail(errOut, 600))
	}
	if crashed(errOut) {
		t.Errorf("read-only data dir at start: crash:\n%s", tail(errOut, 600))
	}
	unmount(t, data)
	unchanged := dirDigest(t, data) == before
	if !unchanged {
		t.Error("the refused start changed the data dir")
	}

	// (2) The dir becomes read-only under a running node.
	logPath := filepath.Join(f.dir, "dev2.log")
	dev = startProc(t, logPath, "node", "--config", cfg)
	waitStatus(t, data, "restart", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 && time.Since(s.UpdatedAt) < 10*time.Second })
	time.Sleep(time.Second)
	mountCmd(t, "--bind", data, data)
	mountCmd(t, "-o", "remount,bind,ro", data)
	roMounted := true
	t.Cleanup(func() {
		if roMounted {
			unmount(t, data)
		}
	})
	const id = "plc-fw@2.0.1"
	sum := f.publish(t, "2.0.1", 4<<20)
	var reported string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := netnsLiveStatus(data); err == nil && st.Releases[id] != nil && st.Releases[id].Error != "" {
			reported = st.Releases[id].Error
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	died, exitCode := exited(dev, 100*time.Millisecond)
	log := readFile(logPath)
	runClear := strings.Contains(reported, "read-only file system")
	if died {
		t.Errorf("the node exited (%d) when its data dir became read-only:\n%s", exitCode, tail(log, 600))
	} else if !runClear {
		t.Errorf("read-only data dir while running: the release's error is %q, want one naming the read-only file system", reported)
	}
	if crashed(log) {
		t.Errorf("crash:\n%s", tail(log, 600))
	}
	if strings.Contains(readFile(f.installs), id) {
		t.Fatal("installed from a read-only data dir")
	}
	unmount(t, data)
	roMounted = false
	writable := time.Now()
	if died {
		dev = startProc(t, filepath.Join(f.dir, "dev3.log"), "node", "--config", cfg)
	}
	waitStatus(t, data, "install once the dir is writable", 60*time.Second, func(s node.Status) bool {
		r := s.Releases[id]
		return r != nil && r.Phase == policy.PhaseInstalled
	})
	recoverS := time.Since(writable).Seconds()
	if b, err := os.ReadFile(f.installed); err != nil || func() string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }() != sum {
		t.Errorf("installed file differs from the release (err %v)", err)
	}
	installedOnce(t, f.installs, id)
	installedOnce(t, f.installs, "plc-fw@2.0.0")
	stop(t, dev)
	auditVerify(t, data)
	t.Logf("reliability: injected=2 start_refused_clearly=%t store_unchanged=%t running_error_clear=%t node_exited=%t recover_s=%.1f",
		startClear, unchanged, runClear, died, recoverS)
}
