package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// This file is the node's side of admission (IEC 62443-3-2 zones and
// conduits): the gater asks policy.AdmitPeer about every peer, against the
// newest roster the node holds.

// hostConfig builds the libp2p host configuration: identity, listen
// addresses, the admission gater, private network, limits.
func (n *Node) hostConfig() (overlay.HostConfig, error) {
	id, err := loadOrCreateIdentity(n.identityPath())
	if err != nil {
		return overlay.HostConfig{}, err
	}
	self, err := peer.IDFromPrivateKey(id)
	if err != nil {
		return overlay.HostConfig{}, fmt.Errorf("identity: %w", err)
	}
	hc := overlay.HostConfig{Identity: id, Listen: n.cfg.Listen, LowPeers: n.cfg.Peers.Low, HighPeers: n.cfg.Peers.High,
		MaxConns: n.cfg.MaxConns}
	if n.cfg.MaxMemory != "" {
		hc.MaxMemory, _ = units.ParseBytes(n.cfg.MaxMemory)
	}
	if n.cfg.PrivateNetwork != "" {
		b, err := os.ReadFile(n.cfg.Resolve(n.cfg.PrivateNetwork))
		if err != nil {
			return overlay.HostConfig{}, fmt.Errorf("%w: private_network: %w", ErrConfig, err)
		}
		if hc.PSK, err = overlay.ParsePSK(b); err != nil {
			return overlay.HostConfig{}, fmt.Errorf("%w: private_network %s: %w", ErrConfig, n.cfg.PrivateNetwork, err)
		}
	}
	enrolled := n.cfg.Admission == AdmissionEnrolled
	if enrolled {
		if err := policy.AdmitPeer(n.roster(), self.String(), self.String()); err != nil {
			return overlay.HostConfig{}, fmt.Errorf("admission: %w", err)
		}
	}
	// The gater refuses banned peers always, and peers outside the roster
	// when admission is enrolled.
	n.gater = &overlay.Gater{
		Admit: func(p peer.ID) error {
			if n.strikes.Banned(p, n.now()) {
				return errBanned
			}
			if enrolled {
				return policy.AdmitPeer(n.roster(), self.String(), p.String())
			}
			return nil
		},
		OnRefuse: func(p peer.ID, err error) {
			n.log.Info("connection refused", "peer", p, "err", err)
		},
	}
	hc.Gater = n.gater
	return hc, nil
}

// roster returns the newest roster held (nil if none).
func (n *Node) roster() *trust.Roster {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rosterLocked()
}

func (n *Node) rosterLocked() *trust.Roster {
	for _, d := range n.docs {
		if d.Roster != nil {
			return d.Roster
		}
	}
	return nil
}

// loadRoster admits the roster file given at enrolment (a newer one held
// from the network wins).
func (n *Node) loadRoster() error {
	if n.cfg.Roster == "" {
		return nil
	}
	b, err := os.ReadFile(n.cfg.Resolve(n.cfg.Roster))
	if err != nil {
		return fmt.Errorf("%w: roster: %w", ErrConfig, err)
	}
	doc, err := n.open(b)
	if err == nil && doc.Roster == nil {
		err = fmt.Errorf("not a roster (%s)", doc.Envelope.PayloadType)
	}
	if err != nil {
		return fmt.Errorf("%w: roster %s: %w", ErrConfig, n.cfg.Roster, err)
	}
	if err := n.admit(doc); err != nil && !errors.Is(err, errKnown) && !errors.Is(err, trust.ErrRollback) {
		return fmt.Errorf("%w: roster %s: %w", ErrConfig, n.cfg.Roster, err)
	}
	return nil
}

// enforceRoster closes connections to peers a new roster no longer admits
// (a revoked device, one moved to another zone).
func (n *Node) enforceRoster() {
	if n.gater == nil || n.host == nil {
		return
	}
	for _, p := range n.host.Network().Peers() {
		if err := n.gater.Admit(p); err != nil {
			n.log.Warn("closing connection to a peer the roster no longer admits", "peer", p, "err", err)
			_ = n.host.Network().ClosePeer(p)
		}
	}
}

// GaterRefused counts connections the admission gater refused.
func (n *Node) GaterRefused() int64 {
	if n.gater == nil {
		return 0
	}
	return n.gater.Refused()
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound connects to a peer found on the LAN; the gater still
// decides whether it may.
func (m mdnsNotifee) HandlePeerFound(pi peer.AddrInfo) {
	if pi.ID == m.n.host.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(m.n.ctx, 10*time.Second)
	defer cancel()
	if err := m.n.host.Connect(ctx, pi); err != nil {
		m.n.log.Debug("mdns: connect", "peer", pi.ID, "err", err)
	}
}

func (n *Node) startMDNS() error {
	svc := mdns.NewMdnsService(n.host, "tocsin", mdnsNotifee{n})
	if err := svc.Start(); err != nil {
		return fmt.Errorf("mdns: %w", err)
	}
	n.goFn(func() { <-n.ctx.Done(); _ = svc.Close() })
	return nil
}
