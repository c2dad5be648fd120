package overlay

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// HostConfig configures a libp2p host.
type HostConfig struct {
	// Identity is the node's libp2p key; its hash is the peer ID.
	Identity crypto.PrivKey
	// Listen are multiaddrs to listen on. Default: all interfaces, TCP and
	// QUIC on port 4001 (TCP only with a private-network key).
	Listen []string
	// Gater, if set, decides which peers may connect, before any stream
	// opens (admission, zones and conduits).
	Gater *Gater
	// PSK is an optional libp2p private-network key: only hosts with the
	// same key can even complete a handshake. go-libp2p refuses QUIC with a
	// private network, so such a host listens on TCP only.
	PSK pnet.PSK
	// LowPeers and HighPeers are the connection manager's watermarks: above
	// HighPeers it trims the least useful connections down to LowPeers.
	// Defaults 16 and 32.
	LowPeers, HighPeers int
	// MaxMemory caps the memory the libp2p resource manager lets
	// connections and streams reserve. Default 256 MiB.
	MaxMemory int64
	// MaxConns caps connections (inbound and outbound). Default 256.
	MaxConns int
}

// DefaultListen is used when HostConfig.Listen is empty.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// NewHost starts a libp2p host with TCP and QUIC, Noise/TLS security, a
// resource manager with the configured memory and connection limits, a
// connection manager keeping a target degree, and the admission gater.
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Identity == nil {
		return nil, fmt.Errorf("host: no identity key")
	}
	listen := cfg.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}
	if cfg.PSK != nil {
		var tcp []string
		for _, l := range listen {
			if strings.Contains(l, "/quic") || strings.Contains(l, "/webtransport") {
				continue
			}
			tcp = append(tcp, l)
		}
		if len(tcp) == 0 {
			return nil, fmt.Errorf("host: a private-network key needs a TCP listen address (QUIC is not supported with one)")
		}
		listen = tcp
	}
	if cfg.LowPeers <= 0 {
		cfg.LowPeers = 16
	}
	if cfg.HighPeers <= cfg.LowPeers {
		cfg.HighPeers = 2 * cfg.LowPeers
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = 256 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	cm, err := connmgr.NewConnManager(cfg.LowPeers, cfg.HighPeers, connmgr.WithGracePeriod(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	rm, err := newResourceManager(cfg.MaxMemory, cfg.MaxConns)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(listen...),
		libp2p.DisableRelay(),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.Muxer(yamux.ID, lossTolerantYamux()),
		libp2p.SwarmOpts(swarm.WithDialRanker(quicFirst)),
	}
	if cfg.Gater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.Gater))
	}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK), libp2p.Transport(tcp.NewTCPTransport))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	return h, nil
}

// newResourceManager scales libp2p's default limits to the memory cap, with
// the connection cap applied to the whole system and to each direction.
func newResourceManager(memory int64, conns int) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	concrete := limits.Scale(memory, 4096)
	part := concrete.ToPartialLimitConfig()
	part.System.Conns = rcmgr.LimitVal(conns)
	part.System.ConnsInbound = rcmgr.LimitVal(conns)
	part.System.ConnsOutbound = rcmgr.LimitVal(conns)
	part.Transient.Conns = rcmgr.LimitVal(max(conns/4, 16))
	part.Transient.ConnsInbound = rcmgr.LimitVal(max(conns/4, 16))
	// max_memory is a hard cap: the whole node, streams not yet
	// negotiated, and any one peer get a share of it, so that one admitted
	// peer flooding streams cannot take the node past it (measured by
	// TestReliabilityStreamFlood). 32 inbound streams per peer is far
	// above what gossip, bitswap, sync and identify use together.
	part.System.Memory = rcmgr.LimitVal64(memory)
	part.Transient.Memory = rcmgr.LimitVal64(memory / 4)
	part.PeerDefault.Memory = rcmgr.LimitVal64(memory / 4)
	part.PeerDefault.StreamsInbound = 32
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(part.Build(concrete)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// Gater admits connections only from peers its Admit function accepts. It
// runs on outbound dials and, for inbound connections, right after the
// security handshake — before the muxer, so before any protocol stream
// (identify, pubsub, bitswap, sync) can open.
type Gater struct {
	// Admit returns nil for a peer that may connect, or why not.
	Admit func(peer.ID) error
	// OnRefuse, if set, is told about every refusal.
	OnRefuse func(peer.ID, error)
	refused  atomic.Int64
}

// Refused counts refused connections and dials.
func (g *Gater) Refused() int64 { return g.refused.Load() }

func (g *Gater) check(p peer.ID) bool {
	if g.Admit == nil {
		return true
	}
	err := g.Admit(p)
	if err == nil {
		return true
	}
	g.refused.Add(1)
	if g.OnRefuse != nil {
		g.OnRefuse(p, err)
	}
	return false
}

// InterceptPeerDial refuses dialling a peer that is not admitted.
func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.check(p) }

// InterceptAddrDial allows every address of an admitted peer.
func (g *Gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept allows the raw connection; the peer is not known yet.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses an authenticated peer that is not admitted.
func (g *Gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.check(p)
}

// InterceptUpgraded allows the upgraded connection.
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// ErrPSK is wrapped by ParsePSK errors.
var ErrPSK = errors.New("private-network key")

// ParsePSK reads a private-network key in the go-ipfs swarm.key format.
func ParsePSK(data []byte) (pnet.PSK, error) {
	psk, err := pnet.DecodeV1PSK(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPSK, err)
	}
	return psk, nil
}

// yamuxWriteTimeout replaces yamux's 10 s "safety valve": a session whose
// socket accepts no write, or whose keep-alive ping gets no answer, for that
// long is closed. On a plant link losing a third of its packets, TCP's
// retransmission timer backs off past 10 s while bulk data fills the send
// buffer, and the default closed a working connection every 20 to 30 s,
// throwing away the block in flight each time (seen in reliability check
// 9d). A dead connection is still noticed, within about 90 s.
const yamuxWriteTimeout = 60 * time.Second

// lossTolerantYamux is go-libp2p's yamux configuration with
// yamuxWriteTimeout.
func lossTolerantYamux() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.ConnectionWriteTimeout = yamuxWriteTimeout
	return &t
}

// tcpFallbackDelay is how long a dial waits for QUIC before it also tries
// TCP (go-libp2p waits 30 ms on a LAN, so the TCP dial wins whenever
// QUIC's first packet is lost). On a lossy link TCP is the worse transport:
// Linux's 200 ms minimum retransmission timeout dominates when a third of
// the packets are lost, while QUIC's timers follow the measured round trip.
// In check 9d the slowest transfers ran over TCP connections
// (reset every 20 to 30 s, see yamuxWriteTimeout). Where UDP is blocked,
// connecting takes this much longer.
const tcpFallbackDelay = 2 * time.Second

// quicFirst is go-libp2p's dial ranking with TCP addresses held back by
// tcpFallbackDelay whenever the peer also has a QUIC address.
func quicFirst(addrs []ma.Multiaddr) []network.AddrDelay {
	ranked := swarm.DefaultDialRanker(addrs)
	quic := false
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quic = true
			break
		}
	}
	if !quic {
		return ranked
	}
	for i, r := range ranked {
		if _, err := r.Addr.ValueForProtocol(ma.P_TCP); err == nil {
			ranked[i].Delay = max(r.Delay, tcpFallbackDelay)
		}
	}
	return ranked
}
