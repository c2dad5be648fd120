package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// The multi-host tests: a seed and six devices, each in a network namespace
// of its own on a bridge (see netLab), every host dropping 10% of the packets
// it receives at random. Devices bootstrap into a tree, so only d0 and d1
// are given the seed; the rest hear of releases and get blocks through
// other devices:
//
//	seed ── d0 ── d2 ── d4
//	  │      ╲           │
//	  └─ d1 ─ d3 ─────── d5
var netnsTopology = []struct {
	name string
	boot []string
}{
	{"d0", []string{"seed"}},
	{"d1", []string{"seed"}},
	{"d2", []string{"d0"}},
	{"d3", []string{"d0", "d1"}},
	{"d4", []string{"d2"}},
	{"d5", []string{"d3", "d4"}},
}

const (
	netnsLoss    = 10 // percent of received packets dropped on every host
	netnsRelease = "plc-fw@2.0.0"
	netnsSettle  = 3 * time.Second // from connected to publish
)

type netFleet struct {
	lab       *netLab
	dir       string
	key, root string
	seed      *netHost
	seedDir   string
	devs      []*netDev
	names     map[string]string // peer ID -> host name
}

type netDev struct {
	host *netHost
	dir  string
	id   string
	boot []string
}

// startNetFleet builds the lab with lossPercent loss on every host, starts
// the seed and the devices in their namespaces, waits until every device is
// connected to its bootstrap peers and then lets the meshes settle. Each
// device's installer logs its runs to installs.log in its data dir, so a
// second installation shows (installRuns).
func startNetFleet(t *testing.T, lossPercent int, settle time.Duration) *netFleet {
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

	// Identities first, so that every config can name its peers.
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
		lab.startProc(h, filepath.Join(dev.dir, "out.log"), "node", "--config", cfg)
		f.devs = append(f.devs, dev)
	}
	waitStatus(t, f.seedDir, "seed addrs", 60*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	// Publishing before the tree is connected would race the catch-up sync
	// of a late connection with the gossip. status.json is not rewritten
	// when a peer connects, so ask each live node over its control socket
	// until it has as many peers as it has links in the tree (the
	// topology gives no node a way to learn of any other peer).
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
				t.Fatalf("%s has %d peers after 60s, want its %d links (err %v)\nlog:\n%s",
					h.Name, st.Peers, degree[h.Name], err, tail(string(log), 2000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// A release comes to a fleet that has been up for a while. Let the
	// GossipSub meshes form first (one heartbeat a second, plus
	// retransmissions under the loss): a message forwarded before a new
	// neighbour is grafted never reaches it, and that neighbour's catch-up
	// sync on connect ran before the release existed, so it would miss the
	// release for good (a late-joiner race, not what this test measures).
	time.Sleep(settle)
	return f
}

type netnsPublished struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	At     time.Time
}

// publish hands a release of size random bytes to the seed over its control
// socket (a path in the seed's data dir, reachable from the machine's own
// namespace).
func (f *netFleet) publish(t *testing.T, size int) netnsPublished {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	file := filepath.Join(f.dir, "fw.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	out, e, code := tocsin(t, "publish", "--key", f.key, "--seed-dir", f.seedDir, "--product", "plc-fw", "--version", "2.0.0",
		"--file", file, "--chunk-size", "256KiB", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--json")
	if code != 0 {
		t.Fatalf("publish: %s", e)
	}
	var p netnsPublished
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("publish --json output %q: %v", out, err)
	}
	sum := sha256.Sum256(data)
	if p.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("publish says sha256 %s, the file's is %x", p.SHA256, sum)
	}
	p.At = at
	return p
}

// advisoryKey is the key of the advisory the seed holds ("advisory/<id>").
func (f *netFleet) advisoryKey(t *testing.T) string {
	t.Helper()
	st := waitStatus(t, f.seedDir, "the advisory on the seed", 10*time.Second, func(s node.Status) bool {
		for _, d := range s.Documents {
			if strings.HasPrefix(d, "advisory/") {
				return true
			}
		}
		return false
	})
	for _, d := range st.Documents {
		if strings.HasPrefix(d, "advisory/") {
			return d
		}
	}
	return ""
}

func netnsInstalled(s node.Status) bool {
	r := s.Releases[netnsRelease]
	return r != nil && r.Phase == policy.PhaseInstalled
}

// waitInstalled waits until every device in devs has installed the
// release and returns their status; on timeout it fails with each
// device's state and the end of the logs of those that did not finish.
func (f *netFleet) waitInstalled(t *testing.T, devs []*netDev, timeout time.Duration) map[string]node.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := map[string]node.Status{}
	for {
		for _, d := range devs {
			if _, ok := got[d.host.Name]; ok {
				continue
			}
			if st, err := node.ReadStatus(d.dir); err == nil && netnsInstalled(st) {
				got[d.host.Name] = st
			}
		}
		if len(got) == len(devs) {
			return got
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, d := range devs {
				if _, ok := got[d.host.Name]; ok {
					fmt.Fprintf(&b, "%s: installed\n", d.host.Name)
					continue
				}
				st, err := netnsLiveStatus(d.dir)
				if err != nil {
					st, err = node.ReadStatus(d.dir)
				}
				fmt.Fprintf(&b, "%s: NOT installed (status err %v, peers %d, documents %v, release %s)\n", d.host.Name, err, st.Peers, st.Documents, netnsDescribe(st))
				log, _ := os.ReadFile(filepath.Join(d.dir, "out.log"))
				fmt.Fprintf(&b, "--- %s log:\n%s\n", d.host.Name, tail(string(log), 1500))
			}
			if d := os.Getenv("TOCSIN_KEEP"); d != "" { // for a post-mortem: every node's data dir and log
				_ = exec.Command("cp", "-a", f.dir, d).Run()
			}
			t.Fatalf("after %v, not every device installed %s:\n%s", timeout, netnsRelease, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func netnsDescribe(st node.Status) string {
	r := st.Releases[netnsRelease]
	if r == nil {
		return "unknown"
	}
	return fmt.Sprintf("phase %v, %d/%d blocks, error %q", r.Phase, r.Fetch.BlocksFetched+r.Fetch.BlocksPresent, r.Fetch.BlocksTotal, r.Error)
}

// checkDevice asserts that a device holds the advisory and the release
// and that the file its installer got is the published one.
func (f *netFleet) checkDevice(t *testing.T, d *netDev, st node.Status, advisory string, p netnsPublished) {
	t.Helper()
	docs := strings.Join(st.Documents, " ")
	if !strings.Contains(" "+docs+" ", " "+advisory+" ") || !strings.Contains(" "+docs+" ", " release/"+netnsRelease+" ") {
		t.Errorf("%s holds %v, want %s and release/%s", d.host.Name, st.Documents, advisory, netnsRelease)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "installed.bin"))
	if err != nil {
		t.Errorf("%s: %v", d.host.Name, err)
		return
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != p.SHA256 || int64(len(b)) != p.Size {
		t.Errorf("%s installed %d bytes with sha256 %x, the release is %d bytes with %s", d.host.Name, len(b), sum, p.Size, p.SHA256)
	}
}

// netnsLiveStatus asks a running node for its status over its control socket.
func netnsLiveStatus(dir string) (node.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return node.NewControlClient(dir).Status(ctx)
}

// bytesBy describes where a device's bytes came from, by host name.
func (f *netFleet) bytesBy(st node.Status) string {
	r := st.Releases[netnsRelease]
	if r == nil {
		return ""
	}
	var parts []string
	for id, n := range r.Fetch.BytesByPeer {
		name := f.names[id]
		if name == "" {
			name = id
		}
		parts = append(parts, fmt.Sprintf("%s %.1fMiB", name, float64(n)/(1<<20)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// report logs each device's install time and sources, and every host's drop
// counter, and fails if some host dropped nothing (the loss was not real).
func (f *netFleet) report(t *testing.T, sts map[string]node.Status, p netnsPublished) {
	t.Helper()
	var last time.Duration
	for _, d := range f.devs {
		st, ok := sts[d.host.Name]
		if !ok {
			continue
		}
		r := st.Releases[netnsRelease]
		dt := r.InstalledAt.Sub(p.At)
		if dt > last {
			last = dt
		}
		peers := -1
		if live, err := netnsLiveStatus(d.dir); err == nil {
			peers = live.Peers
		}
		t.Logf("%s (%s, bootstrap %v): installed after %.2fs, %d peers, %d blocks fetched, %d duplicates, from: %s",
			d.host.Name, d.host.Addr, d.boot, dt.Seconds(), peers, r.Fetch.BlocksFetched, r.Fetch.DupBlocks, f.bytesBy(st))
	}
	if sst, err := netnsLiveStatus(f.seedDir); err == nil {
		t.Logf("seed: %d peers, uploaded %.1fMiB in %d blocks (%.2fx the release)", sst.Peers,
			float64(sst.Bitswap.DataSent)/(1<<20), sst.Bitswap.BlocksSent, float64(sst.Bitswap.DataSent)/float64(p.Size))
	}
	t.Logf("last device installed %.2fs after publish (%.1f MiB release, %d%% loss on every host's input)", last.Seconds(), float64(p.Size)/(1<<20), netnsLoss)
	var total uint64
	for _, h := range f.lab.hosts {
		pk, by := f.lab.dropped(h)
		total += pk
		t.Logf("nft drops in %s (%s): %d packets, %d bytes", h.Name, h.Addr, pk, by)
		if pk == 0 {
			t.Errorf("%s dropped no packet: the loss rule did not act", h.Name)
		}
	}
	t.Logf("nft drops, all hosts: %d packets", total)
}

// TestNetnsLossyFleet: every device, most of them not connected to the
// seed, gets the advisory and the verified release although every host
// loses 10% of the packets it receives.
func TestNetnsLossyFleet(t *testing.T) {
	f := startNetFleet(t, netnsLoss, netnsSettle)
	p := f.publish(t, 6<<20)
	adv := f.advisoryKey(t)
	sts := f.waitInstalled(t, f.devs, 45*time.Second)
	for _, d := range f.devs {
		f.checkDevice(t, d, sts[d.host.Name], adv, p)
	}
	f.report(t, sts, p)
	// The devices the seed is not linked to got every byte from devices.
	seedID := ""
	for id, n := range f.names {
		if n == "seed" {
			seedID = id
		}
	}
	for _, d := range f.devs {
		if len(d.boot) == 1 && d.boot[0] == "seed" {
			continue
		}
		if n := sts[d.host.Name].Releases[netnsRelease].Fetch.BytesByPeer[seedID]; n != 0 {
			t.Errorf("%s, not linked to the seed, got %d bytes from it: the test no longer shows relaying", d.host.Name, n)
		}
	}
}

// TestNetnsPartitionHeals: the fleet is cut in two (the seed with d0-d2;
// d3-d5), on top of the 10% loss. The release reaches the seed's side only;
// once the partition heals the other side converges on it too.
func TestNetnsPartitionHeals(t *testing.T) {
	f := startNetFleet(t, netnsLoss, netnsSettle)
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
	stsA := f.waitInstalled(t, devsA, 45*time.Second)
	t.Logf("seed's side installed within %.2fs of publish", time.Since(p.At).Seconds())
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
	stsB := f.waitInstalled(t, devsB, 45*time.Second)
	var last time.Duration
	for _, d := range devsB {
		if dt := stsB[d.host.Name].Releases[netnsRelease].InstalledAt.Sub(healed); dt > last {
			last = dt
		}
	}
	t.Logf("after the partition healed, the cut-off side installed within %.2fs", last.Seconds())
	for n, st := range stsB {
		stsA[n] = st
	}
	for _, d := range f.devs {
		f.checkDevice(t, d, stsA[d.host.Name], adv, p)
	}
	f.report(t, stsA, p)
}
