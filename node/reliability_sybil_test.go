package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/tocsin-iiot/tocsin/overlay"
)

// Reliability check 4 (issue 9): Sybils. A mocknet fleet of 20 honest
// devices (real nodes: GossipSub with the production score parameters,
// sync, bitswap, badger) in a ring with chords, a seed linked to two of
// them, and 8 Sybil peers: stock GossipSub hosts that join the announce
// topic and whose validator decides what they forward. Four attacks, each
// against a no-attack run of the same fleet:
//
//   - eclipse: the Sybils all connect to one victim that has only two
//     honest links (4x as many Sybil connections as honest ones) and never
//     forward anything;
//   - censorship: the Sybils surround the seed (8 links to its 2 honest
//     ones) and drop every message the seed authored, forwarding the rest;
//   - cold boot: the Sybils connect to every device before any honest link
//     exists and never forward;
//   - covert flash: the Sybils connect to every device and forward
//     faithfully while three advisories go out, then stop forwarding just
//     before the fourth.
//
// Every host has an IPv4 address of its own (the Sybils too: the worst
// case, compromised devices rather than one attacking machine, which the
// IP-colocation score would penalise). What must hold: every honest
// device, the victim included, gets the advisory (within 45 s: gossip or
// one catch-up sync round). The figures are the delivery fraction and the
// median and slowest delivery time against the no-attack run.

const (
	sybilHonest = 20
	sybilCount  = 8
	// sybilDeadline leaves room for one catch-up sync round (every 30 s),
	// the defence when gossip is starved.
	sybilDeadline = 45 * time.Second
)

// sybil is a stock GossipSub host whose validator is the attack: forward
// everything (0), nothing (1), or everything but what one author wrote (2).
type sybil struct {
	h         host.Host
	topic     *pubsub.Topic
	mode      atomic.Int32
	censor    peer.ID
	forwarded atomic.Int64 // messages it accepted (and so forwarded)
	dropped   atomic.Int64
}

// ipv4Seq numbers the addresses ipv4Host hands out.
var ipv4Seq atomic.Int64

// ipv4Host is a mocknet host with an IPv4 address of its own, as a device
// on a plant's IPv4 LAN has. (mocknet's own addresses all fall in one IPv6
// /64, which GossipSub's IP-colocation score counts as one address; see
// TestReliabilityDenseLAN.)
func ipv4Host(t *testing.T, f *fleet) host.Host {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := ipv4Seq.Add(1)
	h, err := f.mn.AddPeer(sk, ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4242", 100+n/62500%100, n/250%250, n%250+1)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startOn starts a node of the fleet on host h.
func startOn(t *testing.T, f *fleet, cfg *Config, h host.Host) *Node {
	t.Helper()
	o := f.opts
	o.Host, o.Now = h, f.clk.now
	n, err := New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newSybil(t *testing.T, f *fleet, mode int32, censor peer.ID) *sybil {
	t.Helper()
	s := &sybil{h: ipv4Host(t, f), censor: censor}
	s.mode.Store(mode)
	ps, err := pubsub.NewGossipSub(context.Background(), s.h,
		pubsub.WithMaxMessageSize(overlay.MaxMessageSize),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { sum := sha256.Sum256(m.Data); return string(sum[:]) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.RegisterTopicValidator(overlay.TopicAnnounce, func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		switch s.mode.Load() {
		case 1:
			s.dropped.Add(1)
			return pubsub.ValidationIgnore
		case 2:
			if m.GetFrom() == s.censor {
				s.dropped.Add(1)
				return pubsub.ValidationIgnore
			}
		}
		s.forwarded.Add(1)
		return pubsub.ValidationAccept
	}); err != nil {
		t.Fatal(err)
	}
	if s.topic, err = ps.Join(overlay.TopicAnnounce); err != nil {
		t.Fatal(err)
	}
	sub, err := s.topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := sub.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { sub.Cancel(); _ = s.h.Close() })
	return s
}

type sybilRun struct {
	delivered       int
	lat             []time.Duration // per device, -1 if never
	victim          time.Duration
	sybilsForwarded int64
	sybilsDropped   int64
	victimSybils    int // Sybils among the victim's topic peers at publish time
}

func (r sybilRun) median() time.Duration {
	var ok []time.Duration
	for _, d := range r.lat {
		if d >= 0 {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return -1
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	return ok[len(ok)/2]
}

func (r sybilRun) slowest() time.Duration {
	var m time.Duration
	for _, d := range r.lat {
		if d < 0 {
			return -1
		}
		m = max(m, d)
	}
	return m
}

// runSybils builds the fleet, mounts the attack and publishes one release
// and its advisory; it returns when every device has the advisory or 30 s
// have passed.
func runSybils(t *testing.T, attack string) sybilRun {
	f := newFleet(t, 0)
	const victim = 7
	var devs []*Node
	for i := 0; i < sybilHonest; i++ {
		devs = append(devs, startOn(t, f, f.deviceConfig(fmt.Sprintf("%s/d%02d", t.TempDir(), i)), ipv4Host(t, f)))
	}
	var sybils []*sybil
	mode := int32(1)
	switch attack {
	case "censorship":
		mode = 2
	case "covert-flash":
		mode = 0
	}
	if attack != "none" {
		for i := 0; i < sybilCount; i++ {
			sybils = append(sybils, newSybil(t, f, mode, f.seed.ID()))
		}
	}
	// Cold boot: the Sybils are every device's first peers.
	if attack == "cold-boot" || attack == "covert-flash" {
		for _, s := range sybils {
			for _, d := range devs {
				f.connect(s.h, d.Host())
			}
		}
	}
	// Honest links: a ring with chords (i+1, i+5); the victim keeps only
	// its two ring links.
	linked := map[[2]int]bool{}
	link := func(a, b int) {
		if a > b {
			a, b = b, a
		}
		if a == b || linked[[2]int{a, b}] {
			return
		}
		linked[[2]int{a, b}] = true
		f.connect(devs[a].Host(), devs[b].Host())
	}
	for i := 0; i < sybilHonest; i++ {
		link(i, (i+1)%sybilHonest)
		if j := (i + 5) % sybilHonest; i != victim && j != victim {
			link(i, j)
		}
	}
	f.connect(f.seed.Host(), devs[0].Host())
	f.connect(f.seed.Host(), devs[sybilHonest/2].Host())
	switch attack {
	case "eclipse":
		for _, s := range sybils {
			f.connect(s.h, devs[victim].Host())
		}
	case "censorship":
		for _, s := range sybils {
			f.connect(s.h, f.seed.Host())
			f.connect(s.h, devs[(victim+3)%sybilHonest].Host()) // and somewhere in the fleet, to forward the rest
		}
	}
	for _, d := range devs {
		waitFor(t, "gossip peers", 10*time.Second, func() bool { return len(d.gossip.Topic.ListPeers()) > 0 })
	}
	time.Sleep(2 * time.Second) // meshes form (GossipSub heartbeat 1 s)

	if attack == "covert-flash" {
		// Good behaviour first: three advisories go out through them.
		for i := 0; i < 3; i++ {
			rel := f.release(randomBytes(t, 4<<10), fmt.Sprintf("1.%d.0", i+1)) // older than what runs: never fetched
			f.announce(f.signRelease(rel), f.advisory(rel, 1, f.clk.now()))
			key := "advisory/TSA-" + rel.Version
			waitFor(t, "warm-up advisory everywhere", 30*time.Second, func() bool {
				for _, d := range devs {
					if !d.hasDoc(key) {
						return false
					}
				}
				return true
			})
		}
		var fw int64
		for _, s := range sybils {
			fw += s.forwarded.Load()
			s.mode.Store(1) // the flash: from now on they forward nothing
		}
		if fw == 0 {
			t.Fatal("covert flash: the Sybils forwarded nothing during the warm-up; the test did not build their standing")
		}
	}
	isSybil := map[peer.ID]bool{}
	for _, s := range sybils {
		isSybil[s.h.ID()] = true
	}
	run := sybilRun{lat: make([]time.Duration, len(devs))}
	for _, p := range devs[victim].gossip.Topic.ListPeers() {
		if isSybil[p] {
			run.victimSybils++
		}
	}
	var fw0 int64
	for _, s := range sybils {
		fw0 += s.forwarded.Load()
	}

	rel := f.release(randomBytes(t, 64<<10), "2.0.0")
	key := "advisory/TSA-2.0.0"
	start := time.Now()
	f.announce(f.signRelease(rel), f.advisory(rel, 1, f.clk.now()))
	for i := range run.lat {
		run.lat[i] = -1
	}
	for time.Since(start) < sybilDeadline && run.delivered < len(devs) {
		for i, d := range devs {
			if run.lat[i] < 0 && d.hasDoc(key) {
				run.lat[i] = time.Since(start)
				run.delivered++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	run.victim = run.lat[victim]
	for _, s := range sybils {
		run.sybilsForwarded += s.forwarded.Load()
		run.sybilsDropped += s.dropped.Load()
	}
	run.sybilsForwarded -= fw0
	return run
}

func TestReliabilitySybils(t *testing.T) {
	reliabilitySuite(t)
	var base sybilRun
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, attack := range []string{"none", "eclipse", "censorship", "cold-boot", "covert-flash"} {
		t.Run(attack, func(t *testing.T) {
			r := runSybils(t, attack)
			if attack == "none" {
				base = r
			}
			t.Logf("reliability: injected=%d delivered=%d/%d median_ms=%.0f slowest_ms=%.0f victim_ms=%.0f baseline_median_ms=%.0f baseline_slowest_ms=%.0f sybil_links_to_victim=%d sybils_forwarded_after=%d sybils_dropped=%d",
				map[bool]int{true: 0, false: sybilCount}[attack == "none"], r.delivered, sybilHonest, ms(r.median()), ms(r.slowest()), ms(r.victim),
				ms(base.median()), ms(base.slowest()), r.victimSybils, r.sybilsForwarded, r.sybilsDropped)
			if r.delivered != sybilHonest {
				var missing []int
				for i, d := range r.lat {
					if d < 0 {
						missing = append(missing, i)
					}
				}
				t.Errorf("%s: %d of %d honest devices got the advisory within %s; missing %v", attack, r.delivered, sybilHonest, sybilDeadline, missing)
			}
			if attack == "eclipse" && r.victimSybils < sybilCount {
				t.Errorf("eclipse: only %d Sybils among the victim's topic peers; the attack was not mounted", r.victimSybils)
			}
			if (attack == "eclipse" || attack == "cold-boot" || attack == "covert-flash") && r.sybilsForwarded != 0 {
				t.Errorf("%s: the Sybils forwarded %d messages during the attack", attack, r.sybilsForwarded)
			}
			if attack == "censorship" && r.sybilsDropped == 0 {
				t.Error("censorship: the Sybils dropped nothing; the seed's messages never reached them")
			}
		})
	}
}

// TestReliabilityDenseLAN: no attack. 16 devices that all see each other
// (a plant LAN with mDNS) and a seed linked to two of them; the advisory
// must reach every device by gossip, within 10 s (before any catch-up sync
// round). Once on distinct IPv4 addresses, once with every device in one
// IPv6 /64 — what an IPv6 plant LAN looks like, and what GossipSub's
// IP-colocation score (P6: more than 10 peers from one address) counts as
// one address.
func TestReliabilityDenseLAN(t *testing.T) {
	reliabilitySuite(t)
	for _, lan := range []string{"ipv4", "ipv6-one-64"} {
		t.Run(lan, func(t *testing.T) {
			f := newFleet(t, 0)
			var devs []*Node
			for i := 0; i < 16; i++ {
				cfg := f.deviceConfig(fmt.Sprintf("%s/d%02d", t.TempDir(), i))
				if lan == "ipv4" {
					devs = append(devs, startOn(t, f, cfg, ipv4Host(t, f)))
				} else {
					devs = append(devs, f.start(cfg)) // mocknet addresses: one /64
				}
			}
			for i := range devs {
				for j := i + 1; j < len(devs); j++ {
					f.connect(devs[i].Host(), devs[j].Host())
				}
			}
			f.connect(f.seed.Host(), devs[0].Host())
			f.connect(f.seed.Host(), devs[8].Host())
			for _, d := range devs {
				waitFor(t, "gossip peers", 10*time.Second, func() bool { return len(d.gossip.Topic.ListPeers()) >= 15 })
			}
			time.Sleep(2 * time.Second)
			rel := f.release(randomBytes(t, 64<<10), "2.0.0")
			start := time.Now()
			f.announce(f.signRelease(rel), f.advisory(rel, 1, f.clk.now()))
			got, slowest := 0, time.Duration(0)
			seen := make([]bool, len(devs))
			for time.Since(start) < 10*time.Second && got < len(devs) {
				for i, d := range devs {
					if !seen[i] && d.hasDoc("advisory/TSA-2.0.0") {
						seen[i], slowest = true, time.Since(start)
						got++
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("reliability: devices=%d peers_each=15 delivered=%d/%d slowest_ms=%.0f", len(devs), got, len(devs), float64(slowest)/float64(time.Millisecond))
			if got != len(devs) {
				t.Errorf("%s: %d of %d devices got the advisory by gossip within 10 s", lan, got, len(devs))
			}
		})
	}
}
