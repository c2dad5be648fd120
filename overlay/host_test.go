package overlay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	ma "github.com/multiformats/go-multiaddr"
)

func pskFile(b byte) []byte {
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat(string("0123456789abcdef"[b%16]), 64) + "\n")
}

// TestPrivateNetwork: hosts with the same private-network key connect; a
// host with another key cannot even complete a handshake; such hosts listen
// on TCP only (go-libp2p refuses QUIC with a private network).
func TestPrivateNetwork(t *testing.T) {
	mk := func(psk []byte) *HostConfig {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParsePSK(psk)
		if err != nil {
			t.Fatal(err)
		}
		return &HostConfig{Identity: k, PSK: p, Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}}
	}
	a, err := NewHost(*mk(pskFile(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, addr := range a.Addrs() {
		if strings.Contains(addr.String(), "quic") {
			t.Fatalf("a private-network host listens on QUIC: %s", addr)
		}
	}
	same, err := NewHost(*mk(pskFile(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	other, err := NewHost(*mk(pskFile(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info := peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}
	if err := same.Connect(ctx, info); err != nil {
		t.Fatalf("same key: %v", err)
	}
	if err := other.Connect(ctx, info); err == nil {
		t.Fatal("a host with another private-network key connected")
	}
	if _, err := ParsePSK([]byte("garbage")); err == nil {
		t.Fatal("garbage key accepted")
	}
}

// TestYamuxWriteTimeout: hosts use yamux with a write timeout that a lossy
// link's TCP backoff does not trip (check 9d), without changing
// go-libp2p's shared default.
func TestYamuxWriteTimeout(t *testing.T) {
	if got := lossTolerantYamux().ConnectionWriteTimeout; got != yamuxWriteTimeout {
		t.Errorf("yamux write timeout %v, want %v", got, yamuxWriteTimeout)
	}
	if got := yamux.DefaultTransport.ConnectionWriteTimeout; got == yamuxWriteTimeout {
		t.Errorf("go-libp2p's default yamux transport was modified (%v)", got)
	}
}

// TestQUICFirst: TCP is dialled only after tcpFallbackDelay when the peer
// has a QUIC address, at once when it has none.
func TestQUICFirst(t *testing.T) {
	q := ma.StringCast("/ip4/10.0.0.1/udp/4001/quic-v1")
	tc := ma.StringCast("/ip4/10.0.0.1/tcp/4001")
	delays := map[string]time.Duration{}
	for _, d := range quicFirst([]ma.Multiaddr{tc, q}) {
		delays[d.Addr.String()] = d.Delay
	}
	if delays[q.String()] != 0 || delays[tc.String()] != tcpFallbackDelay {
		t.Errorf("with QUIC: delays %v, want QUIC at once and TCP after %v", delays, tcpFallbackDelay)
	}
	only := quicFirst([]ma.Multiaddr{tc})
	if len(only) != 1 || only[0].Delay != 0 {
		t.Errorf("TCP only: %v, want it dialled at once", only)
	}
}
