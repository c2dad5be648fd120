package overlay

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
)

// HostConfig configures a libp2p host.
type HostConfig struct {
	// Identity is the node's libp2p key; its hash is the peer ID.
	Identity crypto.PrivKey
	// Listen are multiaddrs to listen on. Default: all interfaces, TCP and
	// QUIC on port 4001.
	Listen []string
}

// DefaultListen is used when HostConfig.Listen is empty.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// NewHost starts a libp2p host with the default transports, Noise/TLS
// security and the default resource manager.
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Identity == nil {
		return nil, fmt.Errorf("host: no identity key")
	}
	listen := cfg.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(listen...),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	return h, nil
}
