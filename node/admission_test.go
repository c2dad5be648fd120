package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// These tests use real libp2p hosts on 127.0.0.1 (TCP): a connection
// gater can only be installed on a real host.

// identity makes a libp2p identity key file and returns its peer ID.
func identity(t *testing.T, path string) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteIdentity(path, k); err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

// plainHost is a stock libp2p host with the given key: no gater, no Tocsin.
func plainHost(t *testing.T, k crypto.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func startReal(t *testing.T, f *fleet, cfg *Config) *Node {
	t.Helper()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	n, err := New(context.Background(), cfg, Options{Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func addrInfo(n *Node) peer.AddrInfo { return peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()} }

// TestAdmissionZonesConduits: an unenrolled peer, a revoked peer and a peer
// from another zone are refused by the gater, before any stream; a gateway
// (conduit) carries a release from the seed's zone into zone B, whose device
// never connects to zone A or to the seed.
func TestAdmissionZonesConduits(t *testing.T) {
	o := writeOwnerPolicy(t, `zones: [{name: zone-a, target_sl: 2}, {name: zone-b, target_sl: 2}]
groups: [{name: ga, zone: zone-a}, {name: gb, zone: zone-b}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [1.0], soak: 0s}
`)
	f := newFleet(t, 0) // the mocknet seed is unused; this test runs real hosts
	dir := t.TempDir()
	ids := map[string]peer.ID{}
	keys := map[string]crypto.PrivKey{}
	for _, name := range []string{"seed", "gw", "a1", "b1", "stolen", "stranger"} {
		keys[name], ids[name] = identity(t, filepath.Join(dir, name, "identity.key"))
	}
	roster := trust.Roster{Fleet: "plant", Seq: 1, Issued: f.clk.now(), Members: []trust.Member{
		{Peer: ids["seed"].String(), Zone: "dmz", Role: trust.MemberSeed},
		{Peer: ids["gw"].String(), Zone: "zone-a", Role: trust.MemberGateway, Conduits: []string{"zone-b", "dmz"}},
		{Peer: ids["a1"].String(), Zone: "zone-a", Role: trust.MemberDevice},
		{Peer: ids["b1"].String(), Zone: "zone-b", Role: trust.MemberDevice},
		{Peer: ids["stolen"].String(), Zone: "zone-a", Role: trust.MemberDevice},
	}, Revoked: []string{ids["stolen"].String()}}
	env, err := trust.SignRoster(roster, o.op)
	if err != nil {
		t.Fatal(err)
	}
	rosterPath := filepath.Join(dir, "roster.json")
	os.WriteFile(rosterPath, env.Marshal(), 0o644)

	seed := startReal(t, f, &Config{Role: RoleSeed, DataDir: filepath.Join(dir, "seed"), TrustRoot: f.rootPath})
	device := func(name, group string, boot ...*Node) *Node {
		cfg := f.deviceConfig(filepath.Join(dir, name))
		cfg.Policy, cfg.Group, cfg.Roster = o.path, group, rosterPath
		for _, b := range boot {
			for _, a := range b.Addrs() {
				cfg.Bootstrap = append(cfg.Bootstrap, a)
			}
		}
		if name == "gw" {
			cfg.Products = nil
		}
		return startReal(t, f, cfg)
	}
	gw := device("gw", "ga", seed)
	a1 := device("a1", "ga", gw)
	b1 := device("b1", "gb", gw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// 1. Strangers, revoked peers and other zones are refused.
	for _, c := range []struct {
		name string
		key  crypto.PrivKey
		want error
	}{
		{"unenrolled peer", keys["stranger"], policy.ErrNotEnrolled},
		{"revoked peer", keys["stolen"], policy.ErrRevoked},
		{"peer from zone B", keys["b1"], policy.ErrOtherZone},
	} {
		before := a1.GaterRefused()
		h := plainHost(t, c.key)
		// The dialler may finish its handshake before a1 hangs up, so
		// Connect can look successful; what counts is a1's side, and that
		// no stream gets through.
		_ = h.Connect(ctx, addrInfo(a1))
		waitFor(t, c.name+": refused by a1's gater", 5*time.Second, func() bool { return a1.GaterRefused() > before })
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		if s, err := h.NewStream(sctx, a1.ID(), "/meshsub/1.1.0", "/ipfs/bitswap/1.2.0", "/tocsin/sync/2.0.0"); err == nil {
			s.Reset()
			t.Fatalf("%s: opened a stream to a1", c.name)
		}
		scancel()
		if err := policy.AdmitPeer(a1.roster(), a1.ID().String(), h.ID().String()); !errors.Is(err, c.want) {
			t.Fatalf("%s: admission says %v, want %v", c.name, err, c.want)
		}
		if len(a1.Host().Network().ConnsToPeer(h.ID())) != 0 {
			t.Fatalf("%s: a1 holds a connection", c.name)
		}
		for _, p := range a1.gossip.Topic.ListPeers() {
			if p == h.ID() {
				t.Fatalf("%s: a1 has it as a gossip peer", c.name)
			}
		}
		h.Close()
	}
	// b1's own gater refuses to dial zone A and the seed.
	if err := b1.Host().Connect(ctx, addrInfo(a1)); err == nil {
		t.Fatal("b1 dialled a1 across zones")
	}
	if err := b1.Host().Connect(ctx, addrInfo(seed)); err == nil {
		t.Fatal("b1 dialled the seed outside its zone")
	}

	// 2. The gateway carries a release from the seed into zone B.
	waitFor(t, "gateway connected to both sides", 15*time.Second, func() bool {
		return len(gw.Host().Network().ConnsToPeer(b1.ID())) > 0 && len(gw.Host().Network().ConnsToPeer(seed.ID())) > 0
	})
	waitMesh(t, b1)
	path := filepath.Join(t.TempDir(), "fw.bin")
	data := randomBytes(t, 300<<10)
	os.WriteFile(path, data, 0o600)
	imp, err := seed.ImportFile(context.Background(), path, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.now().UTC()
	rel := trust.Release{Product: "plc-fw", Version: "2.0.0", RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256,
		ChunkSize: 64 << 10, Published: now, Seq: 7, Expires: now.AddDate(0, 6, 0)}
	fseed := f.seed
	f.seed = seed // announce through the real seed
	f.announce(f.signRelease(rel), f.advisory(rel, 1, now))
	f.seed = fseed
	waitInstalled(t, b1, rel.ID())
	waitInstalled(t, a1, rel.ID())
	byPeer := b1.Status().Releases[rel.ID()].Fetch.BytesByPeer
	for p := range byPeer {
		if p != gw.ID().String() {
			t.Fatalf("b1 received blocks from %s, not only from the gateway", p)
		}
	}
	for _, other := range []*Node{a1, seed} {
		if len(b1.Host().Network().ConnsToPeer(other.ID())) != 0 {
			t.Fatalf("b1 is connected to %s across zones", other.ID())
		}
	}
	if st := gw.Status().Releases[rel.ID()]; st == nil || !st.Fetched || st.Phase == policy.PhaseInstalled {
		t.Fatalf("gateway should cache, not install: %+v", st)
	}
}
