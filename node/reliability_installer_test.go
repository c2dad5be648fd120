package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/policy"
)

// Reliability check 8 (issue 9): installer failures. The installer is a
// real process that crashes (killed by a signal) or hangs past its
// timeout; the device must roll back (installer.rollback runs with the
// previous version), report the failure (lifecycle install-failed, the
// error in its status and in the gossiped report), never retry silently,
// and the rollout must halt at the wave's failure threshold so the next
// wave never installs. Figures are logged as "reliability: key=value" lines
// for internal/reliability.

// splitWaves finds a version of plc-fw whose rollout waves (plan) put at
// least one of devs in wave 0 and at least one in a later wave.
func splitWaves(t *testing.T, devs []*Node, prefix string, plan []float64) (version string, wave0, wave1 []*Node) {
	t.Helper()
	for v := 0; v < 200; v++ {
		version = fmt.Sprintf("%s.%d", prefix, v)
		wave0, wave1 = nil, nil
		for _, d := range devs {
			if policy.WaveOf(d.ID().String(), "plc-fw@"+version, plan) == 0 {
				wave0 = append(wave0, d)
			} else {
				wave1 = append(wave1, d)
			}
		}
		if len(wave0) > 0 && len(wave1) > 0 {
			return version, wave0, wave1
		}
	}
	t.Fatal("no version splits the devices into two waves")
	return "", nil, nil
}

func TestReliabilityInstallerFailures(t *testing.T) {
	reliabilitySuite(t)
	cases := []struct {
		name    string
		install string // sh -c script; $1 is the count file
		timeout time.Duration
		want    string // in the reported error
		within  time.Duration
	}{
		// The installer process is killed by SIGKILL (an OOM kill, a
		// watchdog) half-way through.
		{"installer killed by SIGKILL", `echo flashing; kill -KILL $$`, 30 * time.Second, "signal: killed", 20 * time.Second},
		// The installer crashes with SIGSEGV.
		{"installer crashes with SIGSEGV", `echo flashing; kill -SEGV $$`, 30 * time.Second, "signal: segmentation fault", 20 * time.Second},
		// The installer hangs (a flash that never completes, a prompt):
		// its timeout must end it, including the child it is waiting for.
		// The child's pid is written to $0.child so that the test can
		// check it is gone, and end it itself if the node did not.
		{"installer hangs past its timeout", `echo flashing; sleep 120 & echo $! > "$0.child"; wait; echo done`, 2 * time.Second, "timed out after 2s", 15 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [0.5, 1.0], soak: 1h, failure_threshold: 0.1, min_failures: 1}
`)
			f := newFleet(t, 0)
			dir := t.TempDir()
			for i := 0; i < 4; i++ {
				runs := filepath.Join(dir, fmt.Sprintf("runs-%d", i))
				rb := filepath.Join(dir, fmt.Sprintf("rb-%d", i))
				f.policyDevice(o, "line", func(cfg *Config) {
					cfg.Installer.Command = []string{"sh", "-c", `echo run >> "$0"; ` + c.install, runs}
					cfg.Installer.Rollback = []string{"sh", "-c", `echo "$TOCSIN_ROLLBACK_TO" > "$0"`, rb}
					cfg.Installer.Timeout = c.timeout
				})
			}
			// Registered after the nodes, so it runs before they are closed:
			// a hung installer child the node failed to end would keep
			// Close waiting for it.
			t.Cleanup(func() { killChildren(dir) })
			waitMesh(t, f.devs[3])
			version, wave0, wave1 := splitWaves(t, f.devs, "2.0", []float64{0.5, 1.0})
			published := time.Now()
			rel, _, _ := f.publish(randomBytes(t, 120<<10), version)
			id := rel.ID()

			var slowest time.Duration
			for _, d := range wave0 {
				waitFor(t, "wave 0 reports the failed install", c.within, func() bool { return lifecycleState(d, id) == policy.StateInstallFailed })
				if dt := time.Since(published); dt > slowest {
					slowest = dt
				}
				r := d.Status().Releases[id]
				if !strings.Contains(r.Error, c.want) {
					t.Errorf("reported error %q does not say %q", r.Error, c.want)
				}
				if !strings.Contains(r.Error, "rolled back to 1.0.0") {
					t.Errorf("reported error %q does not say the device rolled back", r.Error)
				}
				if v := d.Status().Products["plc-fw"]; v != "1.0.0" {
					t.Errorf("a device whose installer failed runs %s", v)
				}
				if installedFile(d) {
					t.Error("installed.bin exists after a failed install")
				}
			}
			// A timed-out installer is ended with everything it started.
			orphans := 0
			if pids, _ := filepath.Glob(filepath.Join(dir, "runs-*.child")); len(pids) > 0 {
				time.Sleep(500 * time.Millisecond)
				for _, p := range pids {
					if pid := readPid(p); pid > 0 && alive(pid) {
						orphans++
						t.Errorf("the installer's child process %d still runs after the installer timed out", pid)
					}
				}
			}
			// The failure reaches the fleet and halts the rollout.
			for _, d := range wave1 {
				waitFor(t, "wave 1 sees the halt", 15*time.Second, func() bool {
					r := d.Status().Releases[id]
					return r != nil && strings.Contains(r.Gate, "halted")
				})
			}
			f.clk.advance(2 * time.Hour) // past the soak: only the halt holds wave 1
			time.Sleep(2 * time.Second)
			for _, d := range wave1 {
				if st := lifecycleState(d, id); st != policy.StateEffective {
					t.Errorf("wave 1 device moved to %s during a halted rollout", st)
				}
			}
			fv := wave1[0].Status().Fleet[id]
			if fv == nil || fv.States["install-failed"] != len(wave0) {
				t.Errorf("fleet view on a wave 1 device: %+v, want %d install-failed", fv, len(wave0))
			}
			// Rollback ran on every failed device, to the previous version;
			// the installer ran once on each (no silent retry) and never on
			// wave 1.
			runsTotal, rollbacks := 0, 0
			for i, d := range f.devs {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("runs-%d", i)))
				n := strings.Count(string(b), "run")
				runsTotal += n
				rb, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rb-%d", i)))
				inWave0 := false
				for _, w := range wave0 {
					inWave0 = inWave0 || w == d
				}
				switch {
				case inWave0 && n != 1:
					t.Errorf("device %d: installer ran %d times, want once (no silent retry)", i, n)
				case !inWave0 && n != 0:
					t.Errorf("device %d in wave 1: installer ran %d times during a halted rollout", i, n)
				}
				if inWave0 {
					if err != nil || strings.TrimSpace(string(rb)) != "1.0.0" {
						t.Errorf("device %d: rollback hook did not run back to 1.0.0 (%q, %v)", i, rb, err)
					} else {
						rollbacks++
					}
				}
			}
			t.Logf("reliability: injected=%d failed_reported=%d rolled_back=%d installer_runs=%d wave1_held=%d orphans=%d report_s=%.1f",
				len(wave0), len(wave0), rollbacks, runsTotal, len(wave1), orphans, slowest.Seconds())
		})
	}
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// alive reports whether pid runs (a zombie, killed and waiting for a
// parent that may never reap it, does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// killChildren ends the processes whose pids the hung installers wrote.
func killChildren(dir string) {
	pids, _ := filepath.Glob(filepath.Join(dir, "*.child"))
	for _, p := range pids {
		if pid := readPid(p); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
