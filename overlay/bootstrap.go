package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ParsePeers parses multiaddrs that end in /p2p/<peer id>.
func ParsePeers(addrs []string) ([]peer.AddrInfo, error) {
	out := make([]peer.AddrInfo, 0, len(addrs))
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("bootstrap peer %q: %w", a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// KeepConnected dials every peer in peers that is not connected, now and then
// every interval, until ctx ends.
func KeepConnected(ctx context.Context, h host.Host, peers []peer.AddrInfo, interval time.Duration, log *slog.Logger) {
	if len(peers) == 0 {
		return
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, p := range peers {
			if p.ID == h.ID() || h.Network().Connectedness(p.ID) == network.Connected {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := h.Connect(dctx, p)
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Debug("bootstrap dial failed", "peer", p.ID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
