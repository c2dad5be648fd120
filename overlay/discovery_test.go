package overlay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDHTDiscovery: A and C know only B; through the fleet's DHT they find
// and connect to each other.
func TestDHTDiscovery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b, c := mk(), mk(), mk()
	bInfo := peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}
	log := slog.New(slog.DiscardHandler)
	for _, h := range []host.Host{b, a, c} {
		boot := []peer.AddrInfo{bInfo}
		if h == b {
			boot = nil
		}
		for _, p := range boot {
			if err := h.Connect(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := StartDHT(ctx, h, boot, "tocsin/test-fleet", 500*time.Millisecond, log); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(a.Network().ConnsToPeer(c.ID())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("A never found C through the DHT")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
