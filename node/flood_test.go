package node

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// TestFloodOfIdentities: 500 identities dial an enrolled device and try to
// open pubsub, bitswap and sync streams while a release is published. The
// gater refuses them all before any stream; the resource manager's memory
// stays under the configured limit; the enrolled neighbour behind the device
// is still served and installs the release.
func TestFloodOfIdentities(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 500 libp2p identities (about 15 s); skipped in -short mode")
	}
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: g, zone: cell}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [1.0], soak: 0s}
`)
	f := newFleet(t, 0)
	dir := t.TempDir()
	_, seedID := identity(t, filepath.Join(dir, "seed", "identity.key"))
	_, targetID := identity(t, filepath.Join(dir, "target", "identity.key"))
	_, nbrID := identity(t, filepath.Join(dir, "nbr", "identity.key"))
	roster := trust.Roster{Fleet: "plant", Seq: 1, Issued: f.clk.now(), Members: []trust.Member{
		{Peer: seedID.String(), Zone: "cell", Role: trust.MemberSeed},
		{Peer: targetID.String(), Zone: "cell", Role: trust.MemberDevice},
		{Peer: nbrID.String(), Zone: "cell", Role: trust.MemberDevice},
	}}
	env, _ := trust.SignRoster(roster, o.op)
	rosterPath := filepath.Join(dir, "roster.json")
	os.WriteFile(rosterPath, env.Marshal(), 0o644)
	seed := startReal(t, f, &Config{Role: RoleSeed, DataDir: filepath.Join(dir, "seed"), TrustRoot: f.rootPath})
	const memLimit = 64 << 20
	dev := func(name string, boot *Node) *Node {
		cfg := f.deviceConfig(filepath.Join(dir, name))
		cfg.Policy, cfg.Group, cfg.Roster, cfg.MaxMemory, cfg.MaxConns = o.path, "g", rosterPath, "64MiB", 64
		cfg.Bootstrap = boot.Addrs()
		return startReal(t, f, cfg)
	}
	target := dev("target", seed)
	nbr := dev("nbr", target)
	waitFor(t, "neighbour connected", 10*time.Second, func() bool { return len(nbr.Host().Network().ConnsToPeer(target.ID())) > 0 })
	waitMesh(t, nbr)

	var peakMem atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			_ = target.Host().Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
				if m := s.Stat().Memory; m > peakMem.Load() {
					peakMem.Store(m)
				}
				return nil
			})
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	const identities = 500
	var streams atomic.Int64
	flood := func(k crypto.PrivKey) {
		h, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(noise.ID, noise.New), libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}))
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = h.Connect(ctx, addrInfo(target))
		for _, proto := range []string{"/meshsub/1.1.0", "/ipfs/bitswap/1.2.0", "/tocsin/sync/2.0.0"} {
			if s, err := h.NewStream(ctx, target.ID(), protocolID(proto)); err == nil {
				streams.Add(1)
				s.Reset()
			}
		}
	}
	before := target.GaterRefused()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan crypto.PrivKey)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				flood(k)
			}
		}()
	}
	published := make(chan trust.Release, 1)
	go func() {
		// Publish in the middle of the flood.
		time.Sleep(time.Second)
		path := filepath.Join(dir, "fw.bin")
		os.WriteFile(path, randomBytes(t, 512<<10), 0o600)
		imp, err := seed.ImportFile(context.Background(), path, 64<<10)
		if err != nil {
			t.Error(err)
			return
		}
		now := f.clk.now().UTC()
		rel := trust.Release{Product: "plc-fw", Version: "2.0.0", RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256,
			ChunkSize: 64 << 10, Published: now, Seq: 9, Expires: now.AddDate(0, 6, 0)}
		for _, e := range [][]byte{f.signRelease(rel), f.advisory(rel, 1, now)} {
			if _, err := seed.Announce(context.Background(), e); err != nil {
				t.Error(err)
			}
		}
		published <- rel
	}()
	for i := 0; i < identities; i++ {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		work <- k
	}
	close(work)
	wg.Wait()
	rel := <-published
	waitInstalled(t, nbr, rel.ID())
	close(stop)
	sampler.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	refused := target.GaterRefused() - before
	t.Logf("%d identities in %s: %d refused by the gater, %d streams opened; resource manager peak %.1f MiB of %d MiB; test process heap %.0f MiB",
		identities, time.Since(start).Round(time.Millisecond), refused, streams.Load(), float64(peakMem.Load())/(1<<20), memLimit>>20, float64(ms.HeapInuse)/(1<<20))
	if refused < identities {
		t.Fatalf("the gater refused %d of %d identities", refused, identities)
	}
	if streams.Load() != 0 {
		t.Fatalf("%d streams opened by unenrolled identities", streams.Load())
	}
	if peakMem.Load() > memLimit {
		t.Fatalf("resource manager memory peaked at %d, limit %d", peakMem.Load(), memLimit)
	}
}

func protocolID(s string) protocol.ID { return protocol.ID(s) }
