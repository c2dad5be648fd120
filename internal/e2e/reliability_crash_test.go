package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// TestReliabilityCrashpoints (check 7c): SIGKILL at every write point. For
// each point in crashpoint.Points a fresh seed and device run as real
// processes; the process that owns the point (the device, or the seed for
// release-imported) is started with TOCSIN_CRASHPOINT=<point> and kills
// itself with SIGKILL right after that durable write. It is restarted
// without it. What must hold: the process did die at the point; after the
// restart the release installs, exactly once, the installed file is the
// release, the audit log verifies, and nothing acknowledged before the
// kill is lost (the documents the device had accepted are still there).
func TestReliabilityCrashpoints(t *testing.T) {
	reliabilitySuite(t)
	const id = "plc-fw@2.0.0"
	killed := 0
	// Every point on its first hit, and the points a release passes more
	// than once on later hits (later lifecycle transitions and audit
	// records, the second batch of documents).
	points := append(append([]string(nil), crashpoint.Points...),
		crashpoint.DocsCommitted+":2", crashpoint.ProgressSaved+":2", crashpoint.ProgressSaved+":3",
		crashpoint.AuditAppended+":2", crashpoint.AuditAppended+":3")
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			f := newDiskFleet(t)
			data := filepath.Join(f.dir, "data")
			cfg := f.crashConfig(t, data)
			env := []string{crashpoint.Env + "=" + point}
			onSeed := point == crashpoint.ReleaseImported
			var devEnv []string
			if !onSeed {
				devEnv = env
			}
			dev := startProcEnv(t, filepath.Join(f.dir, "dev.log"), devEnv, "node", "--config", cfg)
			var sum string
			if onSeed {
				// Restart the seed armed, publish (the publish fails: the
				// seed died before acknowledging), restart it clean and
				// publish again, as an operator would.
				waitStatus(t, data, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
				f.restartSeed(t, env)
				if _, _, code := f.tryPublish(t, "2.0.0", 2<<20); code == 0 {
					t.Fatal("publish succeeded although the seed was killed while importing the release")
				}
				if ok, _ := exited(f.seed, 20*time.Second); !ok {
					t.Fatal("the armed seed did not die at release-imported")
				}
				killed++
				f.restartSeed(t, nil)
				sum = f.publish(t, "2.0.0", 2<<20)
			} else {
				devDone := make(chan struct{})
				go func() { _ = dev.Wait(); close(devDone) }()
				select { // the device may die at start-up (docs-committed, audit-appended)
				case <-devDone:
					sum = f.publish(t, "2.0.0", 2<<20)
				case <-time.After(2 * time.Second):
					waitStatus(t, data, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
					sum = f.publish(t, "2.0.0", 2<<20)
					select {
					case <-devDone:
					case <-time.After(60 * time.Second):
						t.Fatalf("the device armed with %s did not die within 60 s", point)
					}
				}
				if ws, ok := dev.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("the device ended (%s) but was not killed at %s:\n%s", dev.ProcessState, point, tail(readFile(filepath.Join(f.dir, "dev.log")), 1500))
				}
				killed++
				docsBefore := readStatusDocs(data)
				os.Remove(filepath.Join(data, "control.sock"))
				os.Remove(filepath.Join(data, "status.json")) // so the restart's own status is read
				dev = startProc(t, filepath.Join(f.dir, "dev2.log"), "node", "--config", cfg)
				after := waitStatus(t, data, "restart", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
				for _, d := range docsBefore {
					if !contains(after.Documents, d) {
						t.Errorf("document %s the device had accepted before the kill is gone after the restart", d)
					}
				}
			}
			for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				st, err := node.ReadStatus(data)
				if r := st.Releases[id]; err == nil && r != nil && r.Phase == policy.PhaseInstalled {
					break
				}
				if time.Now().After(deadline) {
					b, _ := json.Marshal(st.Releases[id])
					t.Fatalf("no install within 90 s of the crash at %s: release status %s\ndevice log:\n%s", point, b,
						tail(readFile(filepath.Join(f.dir, "dev2.log")), 2000))
				}
			}
			b, err := os.ReadFile(f.installed)
			got := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(got[:]) != sum {
				t.Errorf("installed file differs from the release (err %v)", err)
			}
			n := installedOnce(t, f.installs, id)
			stop(t, dev)
			auditVerify(t, data)
			t.Logf("reliability: point=%s killed=1 installs=%d", point, n)
		})
	}
	t.Logf("reliability: injected=%d points=%d", killed, len(points))
}

// crashConfig is the disk fleet's device config plus a health check that
// confirms the installed file is the release — what lets a device killed
// right after its installer ran see, on restart, that the release took
// effect and not install it twice.
func (f *diskFleet) crashConfig(t *testing.T, dataDir string) string {
	t.Helper()
	p := f.config(t, dataDir)
	b, _ := os.ReadFile(p)
	cfg := string(b) + fmt.Sprintf("  health_check: [\"sh\", \"-c\", \"echo \\\"$TOCSIN_SHA256  $0\\\" | sha256sum -c --status\", %q]\n", f.installed)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readStatusDocs(dir string) []string {
	st, err := node.ReadStatus(dir)
	if err != nil {
		return nil
	}
	return st.Documents
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
