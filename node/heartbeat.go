package node

import (
	"context"
	"strings"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// heartbeatLoop (seeds with a heartbeat key) signs and announces a heartbeat
// at once and then every interval: the supplier's statement of the latest
// sequence number in every slot it holds, valid for the TTL. Devices that
// stop hearing it report "stale" instead of trusting old data.
func (n *Node) heartbeatLoop(key *trust.PrivateKey) {
	t := time.NewTicker(n.cfg.Seed.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := n.SendHeartbeat(n.ctx, key); err != nil && n.ctx.Err() == nil {
			n.log.Warn("heartbeat", "err", err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendHeartbeat signs a heartbeat for the documents this node holds and
// announces it.
func (n *Node) SendHeartbeat(ctx context.Context, key *trust.PrivateKey) error {
	now := n.now().UTC()
	n.mu.Lock()
	h := trust.Heartbeat{Issued: now, Expires: now.Add(n.cfg.Seed.HeartbeatTTL), RootVersion: n.trust.Root.Version,
		Latest: make(map[string]uint64, len(n.trust.Marks))}
	for slot, m := range n.trust.Marks {
		if slot != "heartbeat" && !strings.HasPrefix(slot, "decision/") { // the supplier vouches for its own documents only
			h.Latest[slot] = m.Seq
		}
	}
	// Sequence numbers are issue times in milliseconds, kept strictly
	// increasing across restarts by the stored mark.
	h.Seq = uint64(now.UnixMilli())
	if last := n.trust.Marks["heartbeat"].Seq; h.Seq <= last {
		h.Seq = last + 1
	}
	n.mu.Unlock()
	env, err := trust.SignHeartbeat(h, key)
	if err != nil {
		return err
	}
	_, err = n.Announce(ctx, env.Marshal())
	return err
}
