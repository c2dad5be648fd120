package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/hostile"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// supplier holds a supplier's keys: three root keys (threshold 2), one key
// per role, and a second release key scoped to another product.
type supplier struct {
	rootKeys          []*trust.PrivateKey
	rel, adv, hb, hmi *trust.PrivateKey
	root              trust.Root
	rootEnv           []byte
	seq               uint64
}

func newSupplier(t testing.TB) *supplier {
	ks := make([]*trust.PrivateKey, 7)
	for i := range ks {
		k, err := trust.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	s := &supplier{rootKeys: ks[:3], rel: ks[3], adv: ks[4], hb: ks[5], hmi: ks[6], seq: 100}
	s.root = trust.NewRoot(1, testEpoch.AddDate(1, 0, 0), map[string]trust.RoleKeys{
		trust.RoleRoot:      {Keys: []trust.PublicKey{ks[0].Public(), ks[1].Public(), ks[2].Public()}, Threshold: 2},
		trust.RoleRelease:   {Keys: []trust.PublicKey{s.rel.Public(), s.hmi.Public()}, Threshold: 1},
		trust.RoleAdvisory:  {Keys: []trust.PublicKey{s.adv.Public()}, Threshold: 1},
		trust.RoleHeartbeat: {Keys: []trust.PublicKey{s.hb.Public()}, Threshold: 1},
	})
	hk := s.root.Keys[s.hmi.Public().KeyID()]
	hk.Products = []string{"hmi-app"}
	s.root.Keys[s.hmi.Public().KeyID()] = hk
	env, err := trust.SignRoot(s.root, ks[0], ks[1])
	if err != nil {
		t.Fatal(err)
	}
	s.rootEnv = env.Marshal()
	return s
}

// testEpoch is the fleet's virtual "now" at the start of every test.
var testEpoch = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// clock is a settable clock shared by a fleet's nodes.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time {
	return time.Now().Add(time.Duration(c.off.Load())).Add(testEpoch.Sub(wallStart))
}
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

var wallStart = time.Now()

// fleet is a seed and devices on a mocknet: real libp2p hosts, real
// GossipSub and bitswap, real badger stores, in-memory links.
type fleet struct {
	t        *testing.T
	mn       mocknet.Mocknet
	sup      *supplier
	clk      *clock
	rootPath string
	seed     *Node
	devs     []*Node
	opts     Options // extra options for every node
	keys     map[string]crypto.PrivKey
	nextAddr int
}

func newFleet(t *testing.T, devices int, opts ...func(*fleet)) *fleet {
	t.Helper()
	f := &fleet{t: t, mn: mocknet.New(), sup: newSupplier(t), clk: &clock{}}
	for _, o := range opts {
		o(f)
	}
	t.Cleanup(func() { f.mn.Close() })
	dir := t.TempDir()
	f.rootPath = filepath.Join(dir, "root.json")
	if err := os.WriteFile(f.rootPath, f.sup.rootEnv, 0o644); err != nil {
		t.Fatal(err)
	}
	f.seed = f.start(&Config{Role: RoleSeed, DataDir: filepath.Join(dir, "seed"), TrustRoot: f.rootPath})
	for i := 0; i < devices; i++ {
		f.devs = append(f.devs, f.start(f.deviceConfig(filepath.Join(dir, "dev", string(rune('a'+i))))))
	}
	return f
}

func (f *fleet) deviceConfig(dir string) *Config {
	return &Config{
		DataDir: dir, TrustRoot: f.rootPath, Hardware: "x200",
		Products:  []Product{{ID: "plc-fw", Version: "1.0.0"}},
		Installer: Installer{Command: []string{"sh", "-c", `cp "$TOCSIN_FILE" "$TOCSIN_DATA_DIR/installed.bin"`}, Timeout: 30 * time.Second},
	}
}

func (f *fleet) newHost() host.Host {
	h, err := f.mn.GenPeer()
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// hostFor returns a mocknet host with the identity the node in dataDir had
// before (a restarted device keeps its peer ID, as with identity.key).
func (f *fleet) hostFor(dataDir string) host.Host {
	f.t.Helper()
	if f.keys == nil {
		f.keys = map[string]crypto.PrivKey{}
	}
	sk, ok := f.keys[dataDir]
	if !ok {
		h := f.newHost()
		f.keys[dataDir] = h.Peerstore().PrivKey(h.ID())
		return h
	}
	// A restarted device: drop the old host's links so that connects use
	// the new one (mocknet keys links by peer ID).
	old, _ := peer.IDFromPrivateKey(sk)
	for _, p := range f.mn.Peers() {
		if p != old {
			_ = f.mn.UnlinkPeers(old, p)
		}
	}
	f.nextAddr++
	h, err := f.mn.AddPeer(sk, ma.StringCast(fmt.Sprintf("/ip4/10.99.%d.%d/tcp/4242", f.nextAddr/250, f.nextAddr%250+1)))
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func (f *fleet) start(cfg *Config) *Node {
	f.t.Helper()
	o := f.opts
	o.Host, o.Now = f.hostFor(cfg.DataDir), f.clk.now
	n, err := New(context.Background(), cfg, o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { n.Close() })
	return n
}

func (f *fleet) connect(a, b host.Host) {
	f.t.Helper()
	if _, err := f.mn.LinkPeers(a.ID(), b.ID()); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.mn.ConnectPeers(a.ID(), b.ID()); err != nil {
		f.t.Fatal(err)
	}
}

// release imports data into the seed and returns a manifest for it (not yet
// signed or announced) with the next sequence number.
func (f *fleet) release(data []byte, version string) trust.Release {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "fw.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	imp, err := f.seed.ImportFile(context.Background(), path, 64<<10)
	if err != nil {
		f.t.Fatal(err)
	}
	f.sup.seq++
	now := f.clk.now().UTC()
	return trust.Release{Product: "plc-fw", Version: version, RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256,
		ChunkSize: 64 << 10, Published: now, Seq: f.sup.seq, Expires: now.AddDate(0, 6, 0)}
}

func (f *fleet) signRelease(rel trust.Release, keys ...*trust.PrivateKey) []byte {
	f.t.Helper()
	if len(keys) == 0 {
		keys = []*trust.PrivateKey{f.sup.rel}
	}
	env, err := trust.SignRelease(rel, keys...)
	if err != nil {
		f.t.Fatal(err)
	}
	return env.Marshal()
}

// advisory writes a CSAF 2.0 advisory for rel (revision rev, dated at) and
// signs it with the advisory key.
func (f *fleet) advisory(rel trust.Release, rev int, at time.Time, keys ...*trust.PrivateKey) []byte {
	f.t.Helper()
	b, err := csaf.New(csaf.Params{ID: "TSA-" + rel.Version, Title: "fix", Product: rel.Product, FixedVersion: rel.Version,
		CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Time: at, Initial: at.Add(-time.Hour), Revision: rev})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(keys) == 0 {
		keys = []*trust.PrivateKey{f.sup.adv}
	}
	return trust.SignWith(trust.TypeCSAF, b, keys...).Marshal()
}

func (f *fleet) announce(envs ...[]byte) {
	f.t.Helper()
	for _, e := range envs {
		if _, err := f.seed.Announce(context.Background(), e); err != nil {
			f.t.Fatal(err)
		}
	}
}

// publish imports data into the seed and announces a signed release and
// its CSAF advisory, returning the raw envelopes.
func (f *fleet) publish(data []byte, version string) (rel trust.Release, relEnv, advEnv []byte) {
	f.t.Helper()
	rel = f.release(data, version)
	relEnv, advEnv = f.signRelease(rel), f.advisory(rel, 1, f.clk.now())
	f.announce(relEnv, advEnv)
	return rel, relEnv, advEnv
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (n *Node) hasDoc(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.docs[key]
	return ok
}

// TestFleetLine: seed — d0 — d1 — d2 — d3 in a line, so the advisory must be
// validated and forwarded hop by hop, and blocks must be relayed by devices.
func TestFleetLine(t *testing.T) {
	f := newFleet(t, 4)
	f.connect(f.seed.Host(), f.devs[0].Host())
	for i := 1; i < len(f.devs); i++ {
		f.connect(f.devs[i-1].Host(), f.devs[i].Host())
	}
	waitMesh(t, f.devs[len(f.devs)-1])
	data := randomBytes(t, 1<<20+12345)
	rel, _, _ := f.publish(data, "2.0.0")
	want := sha256.Sum256(data)
	for i, d := range f.devs {
		waitFor(t, "device installed", 60*time.Second, func() bool {
			st := d.Status().Releases[rel.ID()]
			return st != nil && st.Phase == policy.PhaseInstalled
		})
		got, err := os.ReadFile(filepath.Join(d.cfg.DataDir, "installed.bin"))
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		if sha256.Sum256(got) != want {
			t.Fatalf("device %d installed a file that differs from the release", i)
		}
		if v := d.Status().Products["plc-fw"]; v != "2.0.0" {
			t.Fatalf("device %d runs %q after install, want 2.0.0", i, v)
		}
	}
	// The far end of the line fetched nothing from the seed: it is not
	// connected to it, so every block came from a neighbour.
	last := f.devs[len(f.devs)-1].Status().Releases[rel.ID()]
	if last.Fetch.BytesByPeer[f.seed.ID().String()] != 0 {
		t.Fatalf("device 3 received bytes from the seed it is not connected to")
	}
	if last.Fetch.BlocksFetched != last.Fetch.BlocksTotal {
		t.Fatalf("device 3 fetched %d of %d blocks", last.Fetch.BlocksFetched, last.Fetch.BlocksTotal)
	}
}

func waitMesh(t *testing.T, n *Node) {
	t.Helper()
	waitFor(t, "gossip peers", 10*time.Second, func() bool { return len(n.gossip.Topic.ListPeers()) > 0 })
	time.Sleep(1500 * time.Millisecond) // one GossipSub heartbeat to graft the mesh
}

// TestForgedAdvisoriesRejected: an attacker next to d0 gossips an advisory
// signed by an unknown key and one whose body was changed after signing. d0's
// validator rejects both: nothing is stored, nothing is forwarded to d1.
func TestForgedAdvisoriesRejected(t *testing.T) {
	f := newFleet(t, 2, noScoring)
	f.connect(f.devs[0].Host(), f.devs[1].Host())
	atk := f.newHost()
	f.connect(atk, f.devs[0].Host())
	ps, err := pubsub.NewGossipSub(context.Background(), atk) // no validator: it sends anything
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(overlay.TopicAnnounce)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "attacker sees d0 on the topic", 10*time.Second, func() bool { return len(topic.ListPeers()) > 0 })
	waitMesh(t, f.devs[1])

	rogue, _ := trust.GenerateKey(nil)
	evil := trust.Release{Product: "plc-fw", Version: "9.9.9"}
	unknownEnv, _ := trust.ParseEnvelope(f.advisory(evil, 1, testEpoch, rogue))
	unknown := unknownEnv
	good, _ := trust.ParseEnvelope(f.advisory(evil, 1, testEpoch))
	tampered := good
	tampered.Payload = bytes.Replace(good.Payload, []byte(`"fix"`), []byte(`"FIX"`), 1)
	unsigned := good
	unsigned.Signatures = nil
	forged := map[string][]byte{
		"unknown key": unknown.Marshal(),
		"tampered":    tampered.Marshal(),
		"unsigned":    unsigned.Marshal(),
		"garbage":     []byte(`{"payloadType":`),
	}
	for name, msg := range forged {
		if err := topic.Publish(context.Background(), msg); err != nil {
			t.Fatalf("%s: attacker publish: %v", name, err)
		}
	}
	waitFor(t, "d0 rejects all four", 10*time.Second, func() bool { return f.devs[0].Status().Counters.DocsRejected >= len(forged) })
	time.Sleep(2 * time.Second) // give any forwarded copy time to arrive
	for i, d := range f.devs {
		if d.hasDoc("advisory/TSA-9.9.9") {
			t.Fatalf("device %d stored a forged advisory", i)
		}
		if c := d.Status().Counters.DocsAccepted; c != 0 {
			t.Fatalf("device %d accepted %d documents", i, c)
		}
	}
	if got := f.devs[1].Status().Counters.DocsRejected; got != 0 {
		t.Fatalf("d1 saw %d forged messages: d0 forwarded them", got)
	}
	// The stored state is empty on disk too.
	if err := f.devs[0].store.DS.Sync(context.Background(), ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	if has, _ := f.devs[0].store.DS.Has(context.Background(), prefixDocs.ChildString("advisory:TSA-9.9.9")); has {
		t.Fatal("forged advisory on disk")
	}
}

// TestBadBlocksNeverStored: a peer that holds the release serves corrupted
// bytes for every data block over real bitswap. The device stores none of
// them, finishes from the honest seed, its store holds only the DAG's
// blocks, and the bad peer is banned.
// memImport chunks data (64 KiB) into a fresh in-memory blockstore, as a
// peer holding the same release would.
func memImport(t *testing.T, data []byte) (blockstore.Blockstore, content.Imported) {
	t.Helper()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	imp, err := content.Import(context.Background(), content.DAGService(bs), bytes.NewReader(data), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	return bs, imp
}

func TestBadBlocksNeverStored(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	data := randomBytes(t, 512<<10)

	// The attacker has every block (same file, same chunking) but corrupts
	// what it sends.
	atk := f.newHost()
	atkStore, imp := memImport(t, data)
	bs := bitswap.New(context.Background(), bsnet.NewFromIpfsHost(atk), nil, hostile.CorruptLeaves{Blockstore: atkStore})
	defer bs.Close()
	f.connect(atk, dev.Host())
	// The seed joins late: the device gets the documents directly and
	// first asks only the attacker.
	rel := f.release(data, "2.0.0")
	for _, env := range [][]byte{f.signRelease(rel), f.advisory(rel, 1, f.clk.now())} {
		if _, err := dev.Announce(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	if rel.RootCID != imp.Root.String() {
		t.Fatalf("test setup: attacker DAG %s differs from release %s", imp.Root, rel.RootCID)
	}
	// Only once the attacker has been caught does the device meet an
	// honest peer.
	waitFor(t, "attacker banned and disconnected", 20*time.Second, func() bool {
		return dev.Status().Counters.PeersBanned > 0 && dev.Host().Network().Connectedness(atk.ID()) != network.Connected
	})
	f.connect(f.seed.Host(), dev.Host())
	waitFor(t, "install", 60*time.Second, func() bool {
		st := dev.Status().Releases[rel.ID()]
		return st != nil && st.Phase == policy.PhaseInstalled
	})
	want := map[cid.Cid]bool{}
	keys, _ := atkStore.AllKeysChan(context.Background())
	for k := range keys {
		want[k] = true
	}
	got, err := dev.store.Blocks.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range got {
		n++
		if !want[k] {
			t.Fatalf("device stored block %s that is not part of the release", k)
		}
		b, err := dev.store.Blocks.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := content.VerifyBlock(b); err != nil {
			t.Fatalf("device stored a bad block: %v", err)
		}
	}
	if n != len(want) {
		t.Fatalf("device holds %d blocks, release has %d", n, len(want))
	}
	// The attacker's ledger goes with the connection the device closes
	// on it, so its blocks are counted where they arrived.
	if dev.Status().Counters.UnwantedBlocks == 0 {
		t.Fatalf("the attacker never served the device: the test did not exercise bad blocks")
	}
	sum := sha256.Sum256(data)
	if dev.Status().Releases[rel.ID()].Error != "" || hex.EncodeToString(sum[:]) != rel.SHA256 {
		t.Fatal("unexpected state")
	}
	// The bad peer is penalised: banned, disconnected, scored below the
	// graylist threshold.
	c := dev.Status().Counters
	t.Logf("reliability: unwanted_blocks_counted=%d peers_banned=%d attacker_score=%.0f", c.UnwantedBlocks, c.PeersBanned, dev.appScore(atk.ID()))
	if c.PeersBanned != 1 || c.UnwantedBlocks < 4 || dev.appScore(atk.ID()) > -80 || dev.appScore(f.seed.Host().ID()) != 0 {
		t.Errorf("bad peer not penalised: banned %d, unwanted blocks %d, its score %.0f, the seed's %.0f",
			c.PeersBanned, c.UnwantedBlocks, dev.appScore(atk.ID()), dev.appScore(f.seed.Host().ID()))
	}
}

// TestRestartKeepsState: documents, progress and the installed version
// survive a restart, and nothing is installed twice.
func TestRestartKeepsState(t *testing.T) {
	f := newFleet(t, 1)
	f.connect(f.seed.Host(), f.devs[0].Host())
	rel, _, _ := f.publish(randomBytes(t, 200<<10), "2.0.0")
	dev := f.devs[0]
	waitFor(t, "install", 30*time.Second, func() bool {
		st := dev.Status().Releases[rel.ID()]
		return st != nil && st.Phase == policy.PhaseInstalled
	})
	cfg := dev.cfg
	marker := filepath.Join(cfg.DataDir, "installs.log")
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Installer.Command = []string{"sh", "-c", `echo run >> "` + marker + `"`}
	again := f.start(cfg)
	st := again.Status()
	if st.Products["plc-fw"] != "2.0.0" || st.Releases[rel.ID()] == nil || st.Releases[rel.ID()].Phase != policy.PhaseInstalled {
		b, _ := json.Marshal(st)
		t.Fatalf("state lost across restart: %s", b)
	}
	if !again.hasDoc("advisory/TSA-2.0.0") || !again.hasDoc("release/"+rel.ID()) {
		t.Fatal("documents lost across restart")
	}
	time.Sleep(1500 * time.Millisecond) // let the evaluate loop run
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the installer ran again after restart")
	}
}

// TestImportReleaseChecksBeforeStoring: a file that does not match the signed
// manifest is refused and leaves no block in the seed's store.
func TestImportReleaseChecksBeforeStoring(t *testing.T) {
	f := newFleet(t, 0)
	path := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(path, randomBytes(t, 300<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	imp, err := content.Import(context.Background(), content.Discard(), mustOpen(t, path), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	rel := trust.Release{Product: "plc-fw", Version: "2.0.0", RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256, ChunkSize: 64 << 10,
		Seq: 1, Expires: testEpoch.AddDate(1, 0, 0)}
	wrong := rel
	wrong.SHA256 = "00" + rel.SHA256[2:]
	if strings.HasPrefix(rel.SHA256, "00") { // one file in 256: then "00" would change nothing
		wrong.SHA256 = "ff" + rel.SHA256[2:]
	}
	if err := f.seed.ImportRelease(context.Background(), path, wrong); err == nil {
		t.Fatal("a file that does not match its manifest was imported")
	}
	keys, _ := f.seed.store.Blocks.AllKeysChan(context.Background())
	for k := range keys {
		t.Fatalf("block %s stored from a refused file", k)
	}
	if err := f.seed.ImportRelease(context.Background(), path, rel); err != nil {
		t.Fatalf("matching file refused: %v", err)
	}
	if !content.Has(context.Background(), f.seed.store.Blocks, imp.Root) {
		t.Fatal("matching file not stored")
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}

// TestStockBitswapFetchesFromSeed: a plain boxo bitswap peer, with none of
// Tocsin's code, fetches a published release from the seed by its root CID
// (merkledag.FetchGraph, as `ipfs pin add` would) and gets the exact file.
func TestStockBitswapFetchesFromSeed(t *testing.T) {
	f := newFleet(t, 0)
	data := randomBytes(t, 2<<20+999)
	rel, _, _ := f.publish(data, "2.0.0")
	stock := f.newHost()
	store := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	bs := bitswap.New(context.Background(), bsnet.NewFromIpfsHost(stock), nil, store)
	defer bs.Close()
	f.connect(stock, f.seed.Host())
	root, err := cid.Decode(rel.RootCID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := merkledag.FetchGraph(ctx, root, merkledag.NewDAGService(blockservice.New(store, bs))); err != nil {
		t.Fatalf("stock fetch: %v", err)
	}
	var out bytes.Buffer
	if _, sum, err := content.Assemble(ctx, store, root, &out); err != nil || sum != rel.SHA256 || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("stock node got a different file (sha %s, err %v)", sum, err)
	}
}
