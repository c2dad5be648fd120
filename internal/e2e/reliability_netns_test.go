package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
)

// Reliability check 9 (issue 9): network faults between real processes.
// The netns fleet of netns_test.go (a seed and six devices, each in a
// network namespace of its own, bootstrapped into a tree) with 30% of the
// packets every host receives dropped at random, instead of 10%; and the
// same fleet cut into two halves that later heal. What must hold: every
// device converges on the verified release and the installer runs once on
// each. Figures are logged as "reliability: key=value" lines.

const reliabilityLoss = 30

// startLossyNetFleet is startNetFleet with lossPercent and an installer
// that also logs each run (installs.log in the data dir), so that a second
// installation shows.
func startLossyNetFleet(t *testing.T, lossPercent int) *netFleet {
	t.Helper()
	names := []string{"seed"}
	for _, d := range netnsTopology {
		names = append(names, d.name)
	}
	lab := newNetLab(t, names, lossPercent)
	f := &netFleet{lab: lab, dir: t.TempDir(), seed: lab.host("seed"), names: map[string]string{}}
	f.key = filepath.Join(f.dir, "supplier.key")
	f.root = filepath.Join(f.dir, "root.json")
	for _, args := range [][]string{
		{"keygen", "--type", "supplier", "-o", f.key},
		{"root", "init", "--root-key", f.key, "-o", f.root},
	} {
		if _, e, code := tocsin(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, e)
		}
	}
	ids := map[string]string{}
	f.seedDir = filepath.Join(f.dir, "seed")
	ids["seed"] = netnsIdentity(t, f.seedDir)
	for _, d := range netnsTopology {
		ids[d.name] = netnsIdentity(t, filepath.Join(f.dir, d.name))
	}
	for n, id := range ids {
		f.names[id] = n
	}
	args := []string{"seed", "--data", f.seedDir, "--trust-root", f.root}
	for _, a := range f.seed.listenAddrs() {
		args = append(args, "--listen", a)
	}
	lab.startProc(f.seed, filepath.Join(f.seedDir, "out.log"), args...)
	for _, d := range netnsTopology {
		h := lab.host(d.name)
		var boot []string
		for _, b := range d.boot {
			boot = append(boot, lab.host(b).p2pAddrs(ids[b])...)
		}
		dev := &netDev{host: h, dir: filepath.Join(f.dir, d.name), id: ids[d.name], boot: d.boot}
		cfg := writeNetnsConfig(t, dev.dir, f.root, h.listenAddrs(), boot)
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		logged := strings.Replace(string(b), `\"$TOCSIN_DATA_DIR/installed.bin\""]`,
			`\"$TOCSIN_DATA_DIR/installed.bin\" && echo \"$TOCSIN_RELEASE_ID\" >> \"$TOCSIN_DATA_DIR/installs.log\""]`, 1)
		if logged == string(b) {
			t.Fatal("test setup: the installer line of writeNetnsConfig changed; update startLossyNetFleet")
		}
		if err := os.WriteFile(cfg, []byte(logged), 0o600); err != nil {
			t.Fatal(err)
		}
		lab.startProc(h, filepath.Join(dev.dir, "out.log"), "node", "--config", cfg)
		f.devs = append(f.devs, dev)
	}
	waitStatus(t, f.seedDir, "seed addrs", 60*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	degree := map[string]int{}
	for _, d := range netnsTopology {
		degree[d.name] += len(d.boot)
		for _, b := range d.boot {
			degree[b]++
		}
	}
	for _, h := range lab.hosts {
		dir := filepath.Join(f.dir, h.Name)
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, err := netnsLiveStatus(dir)
			if err == nil && st.Peers >= degree[h.Name] {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "out.log"))
				t.Fatalf("%s has %d peers after 60s, want its %d links (err %v)\nlog:\n%s", h.Name, st.Peers, degree[h.Name], err, tail(string(log), 2000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * netnsSettle) // meshes form; heartbeats are lost too
	return f
}

// installRuns counts the installer's runs on every device and fails on a
// second one.
func installRuns(t *testing.T, f *netFleet) int {
	t.Helper()
	total := 0
	for _, d := range f.devs {
		b, _ := os.ReadFile(filepath.Join(d.dir, "installs.log"))
		n := strings.Count(string(b), netnsRelease+"\n")
		total += n
		if n != 1 {
			t.Errorf("%s: the installer ran %d times for %s, want once", d.host.Name, n, netnsRelease)
		}
	}
	return total
}

// lossFigures is the drop counters of every host; it fails if some host
// dropped nothing (the loss was not real).
func lossFigures(t *testing.T, f *netFleet) uint64 {
	t.Helper()
	var total uint64
	for _, h := range f.lab.hosts {
		pk, _ := f.lab.dropped(h)
		total += pk
		if pk == 0 {
			t.Errorf("%s dropped no packet: the loss rule did not act", h.Name)
		}
	}
	return total
}

// TestReliabilityNetnsLoss30: every device gets the advisory and the
// verified 2 MiB release although every host loses 30% of the packets it
// receives; each installs it once.
func TestReliabilityNetnsLoss30(t *testing.T) {
	reliabilitySuite(t)
	f := startLossyNetFleet(t, reliabilityLoss)
	p := f.publish(t, 2<<20)
	adv := f.advisoryKey(t)
	sts := f.waitInstalled(t, f.devs, 180*time.Second)
	var last time.Duration
	for _, d := range f.devs {
		f.checkDevice(t, d, sts[d.host.Name], adv, p)
		if dt := sts[d.host.Name].Releases[netnsRelease].InstalledAt.Sub(p.At); dt > last {
			last = dt
		}
		t.Logf("%s: installed after %.1fs, from %s", d.host.Name, sts[d.host.Name].Releases[netnsRelease].InstalledAt.Sub(p.At).Seconds(), f.bytesBy(sts[d.host.Name]))
	}
	time.Sleep(2 * time.Second) // a second installation would show now
	runs := installRuns(t, f)
	drops := lossFigures(t, f)
	t.Logf("reliability: injected=%d lossy_hosts=%[1]d loss_pct=%d devices=%d converged=%d installer_runs=%d release_mib=%.0f slowest_s=%.1f dropped_packets=%d",
		len(f.lab.hosts), reliabilityLoss, len(f.devs), len(sts), runs, float64(p.Size)/(1<<20), last.Seconds(), drops)
}

// TestReliabilityNetnsPartition30: on top of 30% loss the fleet is cut in
// two (the seed with d0-d2; d3-d5). The release reaches the seed's side
// only; once the partition heals the other side converges; every device
// installs once.
func TestReliabilityNetnsPartition30(t *testing.T) {
	reliabilitySuite(t)
	f := startLossyNetFleet(t, reliabilityLoss)
	islandA := []string{"seed", "d0", "d1", "d2"}
	islandB := []string{"d3", "d4", "d5"}
	addrs := func(names []string) []string {
		var a []string
		for _, n := range names {
			a = append(a, f.lab.host(n).Addr)
		}
		return a
	}
	for _, n := range islandA {
		f.lab.blockFrom(f.lab.host(n), addrs(islandB))
	}
	for _, n := range islandB {
		f.lab.blockFrom(f.lab.host(n), addrs(islandA))
	}
	var devsA, devsB []*netDev
	for _, d := range f.devs {
		if strings.Contains(" "+strings.Join(islandA, " ")+" ", " "+d.host.Name+" ") {
			devsA = append(devsA, d)
		} else {
			devsB = append(devsB, d)
		}
	}
	p := f.publish(t, 2<<20)
	adv := f.advisoryKey(t)
	stsA := f.waitInstalled(t, devsA, 120*time.Second)
	sideA := time.Since(p.At)
	time.Sleep(2 * time.Second)
	for _, d := range devsB {
		st, err := node.ReadStatus(d.dir)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Releases[netnsRelease]; r != nil || strings.Contains(strings.Join(st.Documents, " "), "release/") {
			t.Fatalf("%s, cut off from the seed, has the release (%s): the partition leaks", d.host.Name, netnsDescribe(st))
		}
	}
	healed := time.Now()
	for _, h := range f.lab.hosts {
		f.lab.unblock(h)
	}
	stsB := f.waitInstalled(t, devsB, 150*time.Second)
	var last time.Duration
	for _, d := range devsB {
		if dt := stsB[d.host.Name].Releases[netnsRelease].InstalledAt.Sub(healed); dt > last {
			last = dt
		}
	}
	for n, st := range stsB {
		stsA[n] = st
	}
	for _, d := range f.devs {
		f.checkDevice(t, d, stsA[d.host.Name], adv, p)
	}
	time.Sleep(2 * time.Second)
	runs := installRuns(t, f)
	drops := lossFigures(t, f)
	t.Logf("reliability: injected=%s partitions=1 loss_pct=%d devices=%d converged=%d installer_runs=%d side_a_s=%.1f after_heal_s=%.1f dropped_packets=%d",
		fmt.Sprint(1), reliabilityLoss, len(f.devs), len(stsA), runs, sideA.Seconds(), last.Seconds(), drops)
}
