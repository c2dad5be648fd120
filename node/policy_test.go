package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// These tests run the asset owner's policy on a mocknet fleet: real nodes,
// real gossip of operator decisions and status reports, the installer,
// health check and rollback commands as real processes.

// ownerFixture writes an owner policy and an operator key pair.
type ownerFixture struct {
	path string
	op   *trust.PrivateKey
}

func writeOwnerPolicy(t *testing.T, body string) ownerFixture {
	t.Helper()
	dir := t.TempDir()
	op, err := trust.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.WriteKeyPair(op, filepath.Join(dir, "operator.key"), filepath.Join(dir, "operator.pub")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("version: 1\noperator_keys: [operator.pub]\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return ownerFixture{path: path, op: op}
}

func (o ownerFixture) decision(t *testing.T, action, release, group, sia string, seq uint64, at time.Time) []byte {
	t.Helper()
	env, err := trust.SignDecision(trust.Decision{Action: action, Release: release, Group: group, SIA: sia, Seq: seq, Issued: at}, o.op)
	if err != nil {
		t.Fatal(err)
	}
	return env.Marshal()
}

func (f *fleet) policyDevice(o ownerFixture, group string, edit func(*Config)) *Node {
	f.t.Helper()
	cfg := f.deviceConfig(filepath.Join(f.t.TempDir(), group))
	cfg.Policy, cfg.Group = o.path, group
	if edit != nil {
		edit(cfg)
	}
	n := f.start(cfg)
	f.connect(f.seed.Host(), n.Host())
	for _, d := range f.devs {
		f.connect(d.Host(), n.Host())
	}
	f.devs = append(f.devs, n)
	return n
}

func lifecycleState(n *Node, id string) policy.State {
	r := n.Status().Releases[id]
	if r == nil {
		return 0
	}
	return r.Lifecycle.State
}

func installedFile(n *Node) bool {
	_, err := os.Stat(filepath.Join(n.cfg.DataDir, "installed.bin"))
	return err == nil
}

// TestSafetyNeedsSIAAndWindowsHold: a safety-related device never installs
// on an authorisation without a safety impact analysis reference, and
// installs once one arrives; a device whose maintenance window is closed
// waits for it.
func TestSafetyNeedsSIAAndWindowsHold(t *testing.T) {
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups:
  - {name: safety, zone: cell, safety_related: true}
  - {name: windowed, zone: cell, windows: ["Mon 00:00-06:00"], timezone: UTC}
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [1.0], soak: 0s}
`)
	f := newFleet(t, 0)
	safe := f.policyDevice(o, "safety", nil)
	win := f.policyDevice(o, "windowed", nil)
	waitMesh(t, win)
	rel, _, _ := f.publish(randomBytes(t, 150<<10), "2.0.0") // CVSS 9.8, CRITICAL
	id := rel.ID()

	// The window (Monday 00:00-06:00 UTC) is closed on Sunday morning.
	waitFor(t, "windowed device fetched and scheduled", 20*time.Second, func() bool {
		r := win.Status().Releases[id]
		return r != nil && r.Fetched && r.Lifecycle.State == policy.StateEffective && strings.Contains(r.Gate, "window")
	})
	// The safety device is not auto-authorised.
	waitFor(t, "safety device awaits a decision", 10*time.Second, func() bool {
		return lifecycleState(safe, id) == policy.StateInInternalTest && safe.Status().Releases[id].Fetched
	})
	// An authorisation without an SIA reference is not enough.
	if _, err := safe.Announce(context.Background(), o.decision(t, trust.DecisionAuthorise, id, "safety", "", 1, f.clk.now())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "decision reached the windowed device too", 10*time.Second, func() bool { return win.hasDoc("decision/" + id + "/safety") })
	time.Sleep(1500 * time.Millisecond)
	if installedFile(safe) || lifecycleState(safe, id) != policy.StateInInternalTest {
		t.Fatalf("safety device installed or moved on without an SIA reference: %s", lifecycleState(safe, id))
	}
	if r := safe.Status().Releases[id]; !strings.Contains(r.Auth, "safety impact analysis") {
		t.Fatalf("reason %q", r.Auth)
	}
	if installedFile(win) {
		t.Fatal("windowed device installed outside its window")
	}

	// With an SIA reference the safety device installs.
	if _, err := safe.Announce(context.Background(), o.decision(t, trust.DecisionAuthorise, id, "safety", "SIA-2026-017", 2, f.clk.now())); err != nil {
		t.Fatal(err)
	}
	waitInstalled(t, safe, id)
	hist := safe.Status().Releases[id].Lifecycle.History
	var sawSIA bool
	opID := o.op.Public().KeyID()[:16]
	for _, h := range hist {
		sawSIA = sawSIA || (h.Event == policy.EvAuthorise && h.Ref == "SIA-2026-017" && h.Actor == "operator "+opID)
	}
	if !sawSIA {
		t.Fatalf("history does not record the SIA authorisation: %+v", hist)
	}
	// The device's audit log verifies and its evidence names the operator
	// and the SIA reference.
	pub := safe.Host().Peerstore().PubKey(safe.ID())
	safe.Close()
	store, err := content.OpenStore(filepath.Join(safe.cfg.DataDir, "store"), content.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := audit.VerifyStore(context.Background(), store.DS, pub)
	store.Close()
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	ev := audit.Export(recs, id)
	if ev.SIA != "SIA-2026-017" || !strings.Contains(ev.AuthorisedBy, opID) || len(ev.Installations) != 1 {
		t.Fatalf("evidence: SIA %q by %q, %d installations", ev.SIA, ev.AuthorisedBy, len(ev.Installations))
	}

	// Monday 01:00 UTC: the window opens and the windowed device installs.
	now := f.clk.now()
	monday := time.Date(now.Year(), now.Month(), now.Day(), 1, 0, 0, 0, time.UTC)
	for monday.Weekday() != time.Monday || !monday.After(now) {
		monday = monday.AddDate(0, 0, 1)
	}
	f.clk.advance(monday.Sub(now))
	waitInstalled(t, win, id)
}

// TestFailingHealthCheckHaltsRollout: the devices of the first wave install,
// their health check fails, they roll back and report it; the rollout halts
// and the second wave never installs, even after its soak time.
func TestFailingHealthCheckHaltsRollout(t *testing.T) {
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [0.5, 1.0], soak: 1h, failure_threshold: 0.1, min_failures: 1}
`)
	f := newFleet(t, 0)
	rbDir := t.TempDir()
	for i := 0; i < 4; i++ {
		f.policyDevice(o, "line", func(c *Config) {
			c.Installer.HealthCheck = []string{"sh", "-c", "echo unhealthy >&2; exit 3"}
			c.Installer.Rollback = []string{"sh", "-c", fmt.Sprintf(`echo "$TOCSIN_ROLLBACK_TO" > %s/rb-%d`, rbDir, i)}
		})
	}
	waitMesh(t, f.devs[3])
	version, wave0, wave1 := splitWaves(t, f.devs, "2.0", []float64{0.5, 1.0})
	rel, _, _ := f.publish(randomBytes(t, 120<<10), version)
	id := rel.ID()
	for _, d := range wave0 {
		waitFor(t, "wave 0 install fails and rolls back", 30*time.Second, func() bool { return lifecycleState(d, id) == policy.StateInstallFailed })
		if v := d.Status().Products["plc-fw"]; v != "1.0.0" {
			t.Fatalf("a device whose health check failed runs %s", v)
		}
	}
	for _, d := range wave1 {
		waitFor(t, "wave 1 sees the halt", 15*time.Second, func() bool {
			r := d.Status().Releases[id]
			return r != nil && strings.Contains(r.Gate, "halted")
		})
	}
	// After the soak the second wave would open; the halt keeps it shut.
	f.clk.advance(2 * time.Hour)
	time.Sleep(2 * time.Second)
	for _, d := range wave1 {
		if installedFile(d) || lifecycleState(d, id) != policy.StateEffective {
			t.Fatalf("wave 1 device installed during a halted rollout: %s", lifecycleState(d, id))
		}
	}
	// Every wave-0 device ran its rollback command back to 1.0.0.
	rbs, _ := filepath.Glob(filepath.Join(rbDir, "rb-*"))
	if len(rbs) != len(wave0) {
		t.Fatalf("%d rollbacks for %d failed installs", len(rbs), len(wave0))
	}
	for _, p := range rbs {
		if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) != "1.0.0" {
			t.Fatalf("rollback target %q", b)
		}
	}
	// The fleet view on any device counts the outcome.
	fv := wave1[0].Status().Fleet[id]
	if fv == nil || fv.States["install-failed"] != len(wave0) {
		t.Fatalf("fleet view %+v", fv)
	}
}

// TestWavesOpenAfterSoak: with healthy installs, the first wave installs
// at once and the second waits for the soak time, then installs.
func TestWavesOpenAfterSoak(t *testing.T) {
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [0.5, 1.0], soak: 1h, failure_threshold: 0.1}
`)
	f := newFleet(t, 0)
	for i := 0; i < 4; i++ {
		f.policyDevice(o, "line", nil)
	}
	waitMesh(t, f.devs[3])
	version, wave0, wave1 := splitWaves(t, f.devs, "2.1", []float64{0.5, 1.0})
	rel, _, _ := f.publish(randomBytes(t, 120<<10), version)
	id := rel.ID()
	for _, d := range wave0 {
		waitInstalled(t, d, id)
	}
	for _, d := range wave1 {
		waitFor(t, "wave 1 waits for its soak", 10*time.Second, func() bool {
			r := d.Status().Releases[id]
			return r != nil && r.Fetched && strings.Contains(r.Gate, "wave 1")
		})
		if installedFile(d) {
			t.Fatal("wave 1 installed before its soak")
		}
	}
	f.clk.advance(61 * time.Minute)
	for _, d := range wave1 {
		waitInstalled(t, d, id)
	}
}

// TestCatchUpAfterOffline: a device offline while three advisories and one
// operator decision were published gets all four, verified, within 10 s of
// reconnecting, by the sync protocol (GossipSub keeps no history).
func TestCatchUpAfterOffline(t *testing.T) {
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
rollout: {waves: [1.0], soak: 0s}
`)
	f := newFleet(t, 0)
	online := f.policyDevice(o, "line", nil)
	away := f.policyDevice(o, "line", nil)
	waitMesh(t, away)
	for _, p := range []*Node{f.seed, online} {
		if err := f.mn.UnlinkPeers(away.ID(), p.ID()); err != nil {
			t.Fatal(err)
		}
		if err := f.mn.DisconnectPeers(away.ID(), p.ID()); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, v := range []string{"2.0.0", "2.0.1", "2.0.2"} {
		rel, _, _ := f.publish(randomBytes(t, 20<<10), v)
		want = append(want, "advisory/TSA-"+v)
		if v == "2.0.2" {
			dec := o.decision(t, trust.DecisionAuthorise, rel.ID(), "line", "", 1, f.clk.now())
			if _, err := online.Announce(context.Background(), dec); err != nil {
				t.Fatal(err)
			}
			want = append(want, "decision/"+rel.ID()+"/line")
		}
	}
	waitFor(t, "online device has all four", 10*time.Second, func() bool {
		for _, k := range want {
			if !online.hasDoc(k) {
				return false
			}
		}
		return true
	})
	for _, k := range want {
		if away.hasDoc(k) {
			t.Fatalf("the offline device already has %s", k)
		}
	}
	rejected := away.Status().Counters.DocsRejected
	start := time.Now()
	f.connect(away.Host(), f.seed.Host())
	f.connect(away.Host(), online.Host())
	waitFor(t, "all four after reconnecting", 10*time.Second, func() bool {
		for _, k := range want {
			if !away.hasDoc(k) {
				return false
			}
		}
		return true
	})
	t.Logf("caught up on %d documents in %s", len(want), time.Since(start).Round(time.Millisecond))
	if away.Status().Counters.DocsRejected != rejected {
		t.Fatal("catch-up delivered documents that failed verification")
	}
}
