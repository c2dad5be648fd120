package overlay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	dutil "github.com/libp2p/go-libp2p/p2p/discovery/util"
)

// DHTProtocolPrefix keeps Tocsin's Kademlia DHT apart from the public IPFS
// one: a fleet's peers find each other, not the internet.
const DHTProtocolPrefix = "/tocsin"

// StartDHT runs a Kademlia DHT (server mode: every node helps route) seeded
// with the bootstrap peers, advertises this node under namespace (the
// fleet) and connects to the other peers it finds there every interval, up
// to the connection manager's limits. The admission gater still decides
// every connection. It is for wide-area fleets whose devices cannot all be
// given each other's addresses; plant LANs use mDNS and bootstrap lists.
func StartDHT(ctx context.Context, h host.Host, bootstrap []peer.AddrInfo, namespace string, interval time.Duration, log *slog.Logger) (*dht.IpfsDHT, error) {
	kad, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(DHTProtocolPrefix), dht.BootstrapPeers(bootstrap...))
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	if err := kad.Bootstrap(ctx); err != nil {
		kad.Close()
		return nil, fmt.Errorf("dht bootstrap: %w", err)
	}
	disc := drouting.NewRoutingDiscovery(kad)
	dutil.Advertise(ctx, disc, namespace) // re-advertises by itself until ctx ends
	go func() {
		defer kad.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if peers, err := disc.FindPeers(ctx, namespace); err == nil {
				for p := range peers {
					if p.ID == h.ID() || len(p.Addrs) == 0 || len(h.Network().ConnsToPeer(p.ID)) > 0 {
						continue
					}
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					if err := h.Connect(cctx, p); err != nil {
						log.Debug("dht: connect", "peer", p.ID, "err", err)
					}
					cancel()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return kad, nil
}
