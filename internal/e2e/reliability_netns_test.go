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

const (
	reliabilityLoss = 30
	partition30Wait = 240 * time.Second
)

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
	f := startNetFleet(t, reliabilityLoss, 2*netnsSettle) // meshes form; heartbeats are lost too
	p := f.publish(t, 2<<20)
	adv := f.advisoryKey(t)
	sts := f.waitInstalled(t, f.devs, partition30Wait) // see partition30Wait
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
//
// partition30Wait is what each side gets to converge (and the whole fleet
// in TestReliabilityNetnsLoss30, which had 180 s and has come within 6 s
// of it). Under 30% loss on
// every host TCP's goodput collapses into retransmission timeouts, and
// the two islands are chains: d1 has only the seed, d2 only d0. In 24
// passing runs a device on the seed's side took up to 79 s to fetch the
// 2 MiB release (22 stalled fetch rounds; its parent d0 had needed 63 s,
// with its connection to the seed reset twice); the budget of 120 s it
// used to have was exceeded about one full-suite run in four. The check
// is that every device converges and installs once, not how fast.
func TestReliabilityNetnsPartition30(t *testing.T) {
	reliabilitySuite(t)
	f := startNetFleet(t, reliabilityLoss, 2*netnsSettle) // meshes form; heartbeats are lost too
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
	stsA := f.waitInstalled(t, devsA, partition30Wait)
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
	stsB := f.waitInstalled(t, devsB, partition30Wait)
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
