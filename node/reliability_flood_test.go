package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bsmsg "github.com/ipfs/boxo/bitswap/message"
	bspb "github.com/ipfs/boxo/bitswap/message/pb"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pspb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Reliability check 5 (issue 9): control-message spam and resource abuse
// from a peer that is admitted (a compromised device, or anyone where
// admission is open). Real libp2p hosts on 127.0.0.1 so the resource
// manager is the production one: a seed, a target device with
// max_memory 64MiB, and an honest neighbour that reaches the fleet only
// through the target. What must hold: the target's resource manager stays
// under its limit and the process heap grows by less than it; the honest
// neighbour still installs a release published during the attack; the
// attack itself is bounded (want-list truncated, oversized CIDs dropped,
// IWANT answers limited, the spammer's gossip score below the graylist
// threshold). Figures are logged as "reliability: key=value" lines.

const floodMemLimit = 64 << 20

// floodBed is seed — target — neighbour on real hosts, with one release
// installed by both devices before any attack.
type floodBed struct {
	f                *fleet
	seed, target     *Node
	nbr              *Node
	baseline         time.Duration // publish → neighbour installed, no attack
	scoresMu         sync.Mutex
	scores           map[peer.ID]float64
	memStop          chan struct{}
	memDone          chan struct{}
	rcPeak, heapPeak atomic.Int64
	heap0            int64
}

func newFloodBed(t *testing.T) *floodBed {
	t.Helper()
	b := &floodBed{f: newFleet(t, 0), scores: map[peer.ID]float64{}}
	f := b.f
	dir := t.TempDir()
	start := b.start
	b.seed = start(&Config{Role: RoleSeed, DataDir: filepath.Join(dir, "seed"), TrustRoot: f.rootPath}, Options{})
	tcfg := f.deviceConfig(filepath.Join(dir, "target"))
	tcfg.MaxMemory, tcfg.MaxConns = "64MiB", 64
	tcfg.Bootstrap = b.seed.Addrs()
	b.target = start(tcfg, Options{PubSubOptions: []pubsub.Option{pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
		b.scoresMu.Lock()
		defer b.scoresMu.Unlock()
		for p, s := range m {
			b.scores[p] = s
		}
	}, 100*time.Millisecond)}})
	b.nbr = b.device(t, "nbr")
	waitFor(t, "neighbour connected", 10*time.Second, func() bool { return len(b.nbr.Host().Network().ConnsToPeer(b.target.ID())) > 0 })
	waitMesh(t, b.nbr)
	rel, _, _ := b.publish(t, "2.0.0", 512<<10)
	t0 := time.Now()
	waitInstalled(t, b.nbr, rel.ID())
	b.baseline = time.Since(t0)
	return b
}

func (b *floodBed) start(cfg *Config, opts Options) *Node {
	t := b.f.t
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	opts.Now = b.f.clk.now
	n, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// device starts an honest device whose only bootstrap peer is the target.
func (b *floodBed) device(t *testing.T, name string) *Node {
	t.Helper()
	cfg := b.f.deviceConfig(filepath.Join(t.TempDir(), name))
	cfg.Bootstrap = b.target.Addrs()
	return b.start(cfg, Options{})
}

// publish imports size random bytes into the real seed and announces them.
func (b *floodBed) publish(t *testing.T, version string, size int) (trust.Release, []byte, []byte) {
	t.Helper()
	f := b.f
	path := filepath.Join(t.TempDir(), "fw.bin")
	os.WriteFile(path, randomBytes(t, size), 0o600)
	imp, err := b.seed.ImportFile(context.Background(), path, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	f.sup.seq++
	now := f.clk.now().UTC()
	rel := trust.Release{Product: "plc-fw", Version: version, RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256,
		ChunkSize: 64 << 10, Published: now, Seq: f.sup.seq, Expires: now.AddDate(0, 6, 0)}
	relEnv, advEnv := f.signRelease(rel), f.advisory(rel, 1, now)
	for _, e := range [][]byte{relEnv, advEnv} {
		if _, err := b.seed.Announce(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return rel, relEnv, advEnv
}

// watchMemory samples the target's resource manager and the process heap
// until stopMemory.
func (b *floodBed) watchMemory() {
	runtime.GC()
	b.heap0 = liveHeap()
	b.memStop, b.memDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.memDone)
		for {
			_ = b.target.Host().Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
				if m := s.Stat().Memory; m > b.rcPeak.Load() {
					b.rcPeak.Store(m)
				}
				return nil
			})
			if h := liveHeap(); h > b.heapPeak.Load() {
				b.heapPeak.Store(h)
			}
			select {
			case <-b.memStop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// liveHeap is the heap marked live by the last GC: what the process holds,
// without garbage not yet collected.
func liveHeap() int64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// stopMemory ends sampling and checks both figures against the limit.
func (b *floodBed) stopMemory(t *testing.T) (rcMiB, heapGrowthMiB float64) {
	t.Helper()
	close(b.memStop)
	<-b.memDone
	rc, growth := b.rcPeak.Load(), b.heapPeak.Load()-b.heap0
	if rc > floodMemLimit {
		t.Errorf("the target's resource manager reserved %d bytes, limit %d", rc, floodMemLimit)
	}
	if growth > floodMemLimit {
		t.Errorf("the live heap of the test process (the target, its neighbours and the attacker) grew by %d bytes during the attack, more than the target's limit %d", growth, floodMemLimit)
	}
	return float64(rc) / (1 << 20), float64(growth) / (1 << 20)
}

// attacker is a stock libp2p host on 127.0.0.1 with no resource limits.
func (b *floodBed) attacker(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, addrInfo(b.target)); err != nil {
		t.Fatalf("attacker cannot connect: %v", err)
	}
	return h
}

// underAttack publishes a release while attack runs and waits for the
// neighbour to install it; it returns the time that took.
func (b *floodBed) underAttack(t *testing.T, version string) time.Duration {
	t.Helper()
	rel, _, _ := b.publish(t, version, 512<<10)
	t0 := time.Now()
	waitInstalled(t, b.nbr, rel.ID())
	return time.Since(t0)
}

func randomCID(t *testing.T) cid.Cid {
	buf := make([]byte, 32)
	rand.Read(buf)
	h, err := mh.Sum(buf, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// oversizedCID is a CID whose multihash carries a digest of n bytes.
func oversizedCID(t *testing.T, n int) cid.Cid {
	digest := make([]byte, n)
	rand.Read(digest)
	h, err := mh.Encode(digest, mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// TestReliabilityWantlistAbuse: an admitted peer sends the target bitswap
// want-lists of 5,000 entries (the server keeps at most 1,024 per peer) and
// 200 entries whose CIDs carry 4 KiB digests, 40 times over fresh streams,
// asking for blocks that do not exist and for every block of a release the
// target holds. The target keeps at most 1,024 wants for it and none
// oversized, stays within its memory limit, and still serves the honest
// neighbour.
func TestReliabilityWantlistAbuse(t *testing.T) {
	reliabilitySuite(t)
	b := newFloodBed(t)
	atk := b.attacker(t)
	// Real blocks too: the target will queue and send them.
	var real []cid.Cid
	keys, _ := b.target.store.Blocks.AllKeysChan(context.Background())
	for k := range keys {
		real = append(real, k)
	}
	const rounds, perMsg, oversized = 40, 5000, 200
	// Built before the memory baseline: the attacker lives in this process.
	msgs := make([][]byte, rounds)
	for r := range msgs {
		m := bsmsg.New(r%2 == 0) // full and incremental want-lists
		for i, c := range real {
			m.AddEntry(c, int32(perMsg+i), bspb.Message_Wantlist_Block, true)
		}
		for i := len(real); i < perMsg; i++ {
			m.AddEntry(randomCID(t), int32(i), bspb.Message_Wantlist_Block, true)
		}
		for i := 0; i < oversized; i++ {
			m.AddEntry(oversizedCID(t, 4096), int32(2*perMsg), bspb.Message_Wantlist_Have, true)
		}
		var buf bytes.Buffer
		if err := m.ToNetV1(&buf); err != nil {
			t.Fatal(err)
		}
		msgs[r] = buf.Bytes()
	}
	b.watchMemory()
	var sent, streamErrs atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, msg := range msgs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := atk.NewStream(ctx, b.target.ID(), "/ipfs/bitswap/1.2.0")
			cancel()
			if err != nil {
				streamErrs.Add(1)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if _, err := s.Write(msg); err != nil {
				streamErrs.Add(1)
			} else {
				sent.Add(int64(perMsg + oversized))
			}
			_ = s.Close()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	during := b.underAttack(t, "2.1.0")
	<-done
	time.Sleep(500 * time.Millisecond)
	wl := b.target.bs.WantlistForPeer(atk.ID())
	big := 0
	for _, c := range wl {
		if c.ByteLen() > 256 {
			big++
		}
	}
	rc, growth := b.stopMemory(t)
	t.Logf("reliability: injected=%d entries_sent=%d wants_kept=%d oversized_kept=%d stream_errors=%d rcmgr_peak_mib=%.1f heap_growth_mib=%.1f limit_mib=%d install_s=%.2f baseline_s=%.2f",
		rounds, sent.Load(), len(wl), big, streamErrs.Load(), rc, growth, floodMemLimit>>20, during.Seconds(), b.baseline.Seconds())
	if sent.Load() == 0 {
		t.Fatal("no want-list reached the target: the test did not exercise the abuse")
	}
	if len(wl) > 1024 {
		t.Errorf("the target keeps %d wants for one peer, want at most 1024", len(wl))
	}
	if big != 0 {
		t.Errorf("the target keeps %d oversized CIDs in its want-list for the attacker", big)
	}
}

// rpcBytes is one length-prefixed GossipSub RPC.
func rpcBytes(t *testing.T, rpc *pspb.RPC) []byte {
	b, err := proto.Marshal(rpc)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// TestReliabilityGossipControlFlood: an admitted peer speaks raw GossipSub
// to the target. After subscribing it sends, 300 times over, an RPC
// holding an IHAVE of 5,000 unknown message ids, an IWANT of 5,000 ids
// (the two real messages among them) and a GRAFT of the announce topic,
// then a PRUNE (so every GRAFT re-grafts inside the backoff). The target
// answers IWANTs for a real message at most 3 times each, scores the
// spammer below the graylist threshold, stays within its memory limit, and
// the honest neighbour installs a release published during the flood.
func TestReliabilityGossipControlFlood(t *testing.T) {
	reliabilitySuite(t)
	b := newFloodBed(t)
	_, relEnv, advEnv := b.publish(t, "2.0.1", 64<<10)
	idOf := func(data []byte) string { s := sha256.Sum256(data); return string(s[:]) }
	realIDs := map[string]bool{idOf(relEnv): true, idOf(advEnv): true}
	atk := b.attacker(t)

	// The target's own stream to the attacker: count the real messages it
	// sends.
	var served atomic.Int64
	for _, p := range []protocol.ID{pubsub.GossipSubID_v11, pubsub.GossipSubID_v10, "/meshsub/1.2.0"} {
		atk.SetStreamHandler(p, func(s network.Stream) {
			r := bufio.NewReader(s)
			for {
				n, err := binary.ReadUvarint(r)
				if err != nil || n > 4<<20 {
					s.Reset()
					return
				}
				buf := make([]byte, n)
				if _, err := io.ReadFull(r, buf); err != nil {
					s.Reset()
					return
				}
				var rpc pspb.RPC
				if proto.Unmarshal(buf, &rpc) == nil {
					for _, m := range rpc.Publish {
						if realIDs[idOf(m.Data)] {
							served.Add(1)
						}
					}
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s, err := atk.NewStream(ctx, b.target.ID(), pubsub.GossipSubID_v11)
	cancel()
	if err != nil {
		t.Fatalf("open gossipsub stream: %v", err)
	}
	defer s.Reset()
	topic := overlay.TopicAnnounce
	if _, err := s.Write(rpcBytes(t, &pspb.RPC{Subscriptions: []*pspb.RPC_SubOpts{{Subscribe: proto.Bool(true), Topicid: proto.String(topic)}}})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // one heartbeat: the target knows the attacker's subscription

	// Built before the memory baseline: 20 distinct floods, sent in turn.
	const rounds, distinct, ids = 300, 20, 5000
	floods := make([][]byte, distinct)
	prune := rpcBytes(t, &pspb.RPC{Control: &pspb.ControlMessage{Prune: []*pspb.ControlPrune{{TopicID: proto.String(topic)}}}})
	for r := range floods {
		ihave := make([]string, ids)
		iwant := make([]string, ids)
		for i := range ihave {
			ihave[i] = idOf([]byte{byte(r), byte(i), byte(i >> 8), 'h'})
			iwant[i] = idOf([]byte{byte(r), byte(i), byte(i >> 8), 'w'})
		}
		iwant[0], iwant[1] = idOf(relEnv), idOf(advEnv)
		floods[r] = rpcBytes(t, &pspb.RPC{Control: &pspb.ControlMessage{
			Ihave: []*pspb.ControlIHave{{TopicID: proto.String(topic), MessageIDs: ihave}},
			Iwant: []*pspb.ControlIWant{{MessageIDs: iwant}},
			Graft: []*pspb.ControlGraft{{TopicID: proto.String(topic)}},
		}})
	}
	b.watchMemory()
	var rpcs atomic.Int64
	var writeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := 0; r < rounds; r++ {
			if _, err := s.Write(floods[r%distinct]); err != nil {
				writeErr = err
				return
			}
			if _, err := s.Write(prune); err != nil {
				writeErr = err
				return
			}
			rpcs.Add(2)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	during := b.underAttack(t, "2.1.0")
	<-done
	time.Sleep(time.Second)
	b.scoresMu.Lock()
	score := b.scores[atk.ID()]
	b.scoresMu.Unlock()
	rc, growth := b.stopMemory(t)
	t.Logf("reliability: injected=%d ihave_ids=%d iwant_ids=%d grafts=%d real_iwants=%d real_copies_served=%d spammer_score=%.0f stream_cut=%t rcmgr_peak_mib=%.1f heap_growth_mib=%.1f limit_mib=%d install_s=%.2f baseline_s=%.2f",
		rpcs.Load(), rounds*ids, rounds*ids, rounds, 2*rounds, served.Load(), score, writeErr != nil, rc, growth, floodMemLimit>>20, during.Seconds(), b.baseline.Seconds())
	if rpcs.Load() < 20 {
		t.Fatalf("only %d RPCs reached the target (write error %v): the test did not exercise the flood", rpcs.Load(), writeErr)
	}
	if served.Load() > 2*3 {
		t.Errorf("the target sent the two real messages %d times in answer to %d IWANTs; GossipSub allows 3 each", served.Load(), 2*rounds)
	}
	if score > -80 {
		t.Errorf("the spammer's score is %.0f, want below the graylist threshold -80", score)
	}
}

// TestReliabilityStreamFlood: an admitted peer — a separate process, so
// that its own memory is not counted — keeps opening streams to the target
// and holds them open without sending a byte: raw streams that never
// negotiate a protocol (they sit in the resource manager's transient scope
// until libp2p's negotiation timeout) and negotiated sync, bitswap and
// gossipsub streams, with 16 workers, for as long as the test runs. A
// device that joins the fleet through the target during the flood (every
// stream it needs is new) must still get the release within 30 s; the
// target's resource manager must stay within max_memory (64MiB) and the
// process's live heap grow by less. The figure to compare is the join time
// of a device that joined the same way before the flood.
func TestReliabilityStreamFlood(t *testing.T) {
	reliabilitySuite(t)
	b := newFloodBed(t)
	id := "plc-fw@2.0.0"
	join := func(name string, limit time.Duration) (time.Duration, bool) {
		t0 := time.Now()
		d := b.device(t, name)
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			if st := d.Status().Releases[id]; st != nil && st.Phase == policy.PhaseInstalled {
				return time.Since(t0), true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(t0), false
	}
	base, ok := join("late-baseline", 30*time.Second)
	if !ok {
		t.Fatal("a device joining without any attack did not install within 30 s")
	}
	b.watchMemory()
	var transientPeak atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for {
			_ = b.target.Host().Network().ResourceManager().ViewTransient(func(s network.ResourceScope) error {
				if n := int64(s.Stat().NumStreamsInbound); n > transientPeak.Load() {
					transientPeak.Store(n)
				}
				return nil
			})
			select {
			case <-b.memStop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReliabilityStreamFloodHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TOCSIN_STREAM_FLOOD_TARGET="+b.target.Addrs()[0])
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(3 * time.Second) // let the flood fill what it can
	during, served := join("late-under-attack", 30*time.Second)
	// A release published now must still reach the neighbour that was
	// connected before the flood.
	rel, _, _ := b.publish(t, "2.1.0", 512<<10)
	t1 := time.Now()
	existingServed := true
	for {
		if st := b.nbr.Status().Releases[rel.ID()]; st != nil && st.Phase == policy.PhaseInstalled {
			break
		}
		if time.Since(t1) > 30*time.Second {
			existingServed = false
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	existing := time.Since(t1)
	stdin.Close() // the helper stops, reports and exits
	werr := cmd.Wait()
	rc, growth := b.stopMemory(t)
	<-sampleDone
	var opened, refused int
	if i := strings.LastIndex(out.String(), "flood: "); i >= 0 {
		fmt.Sscanf(out.String()[i:], "flood: opened=%d refused=%d", &opened, &refused)
	}
	t.Logf("reliability: injected=%d transient_peak=%d rcmgr_peak_mib=%.1f heap_growth_mib=%.1f limit_mib=%d join_install_s=%.2f join_baseline_s=%.2f joiner_served=%t neighbour_install_s=%.2f neighbour_baseline_s=%.2f neighbour_served=%t",
		opened+refused, transientPeak.Load(), rc, growth, floodMemLimit>>20, during.Seconds(), base.Seconds(), served, existing.Seconds(), b.baseline.Seconds(), existingServed)
	if opened == 0 {
		t.Fatalf("no stream opened: the test did not exercise the flood (helper: %v)\n%s", werr, tail(out.String(), 1500))
	}
	if !served {
		t.Errorf("a device joining through the target during a stream flood from one peer did not get the release within 30 s (%.1f s without the flood)", base.Seconds())
	}
	if !existingServed {
		t.Errorf("the neighbour connected before the flood did not get a release published during it within 30 s (%.1f s without the flood)", b.baseline.Seconds())
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestReliabilityStreamFloodHelper is the attacker process of
// TestReliabilityStreamFlood; it does nothing on its own.
func TestReliabilityStreamFloodHelper(t *testing.T) {
	target := os.Getenv("TOCSIN_STREAM_FLOOD_TARGET")
	if target == "" {
		t.Skip("helper process of TestReliabilityStreamFlood")
	}
	ai, err := peer.AddrInfoFromString(target)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	cancel()
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	protos := []protocol.ID{"", overlay.ProtocolSync, "", "/ipfs/bitswap/1.2.0", "", pubsub.GossipSubID_v11}
	var opened, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var held []network.Stream
			defer func() {
				for _, s := range held {
					s.Reset()
				}
			}()
			for i := w; ; i += 16 {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				var s network.Stream
				var err error
				if p := protos[i%len(protos)]; p == "" {
					s, err = h.Network().NewStream(ctx, ai.ID) // no protocol negotiation
				} else if s, err = h.NewStream(ctx, ai.ID, p); err == nil {
					_, err = s.Write([]byte{0}) // negotiates the protocol
				}
				cancel()
				if err != nil {
					refused.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				opened.Add(1)
				held = append(held, s)
			}
		}(w)
	}
	<-stop
	wg.Wait()
	fmt.Printf("flood: opened=%d refused=%d\n", opened.Load(), refused.Load())
}
