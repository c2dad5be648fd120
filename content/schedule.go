package content

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PlanWants decides the order in which a device asks for the children of a
// DAG node: those it already holds are dropped (so a restarted download
// fetches only what is missing), and the rest are shuffled with rng. Devices
// seeded differently ask for different blocks first, so early on each holds
// blocks the others lack and they can trade instead of all queueing at the
// seed for block 0.
func PlanWants(children []cid.Cid, have func(cid.Cid) bool, rng *rand.Rand) []cid.Cid {
	out := make([]cid.Cid, 0, len(children))
	seen := make(map[cid.Cid]struct{}, len(children))
	for _, c := range children {
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		if !have(c) {
			out = append(out, c)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// GateConfig tunes the seed's super-seeding gate. The zero value disables
// the gate (every request is served).
type GateConfig struct {
	// Interval is how long a leaf block stays reserved to the peers that
	// already got it before one more peer may fetch it from the seed. One
	// more peer is admitted per Interval, so a seed never starves anyone
	// for long, and a stock IPFS node fetching an old release is served
	// at once. Default in DefaultGateConfig: 2s.
	Interval time.Duration
	// MaxTracked bounds memory: the number of blocks whose grants are
	// remembered. Default 1<<16.
	MaxTracked int
}

// DefaultGateConfig is the seed's default: super-seeding on, 2s interval.
func DefaultGateConfig() GateConfig {
	return GateConfig{Interval: 2 * time.Second, MaxTracked: 1 << 16}
}

// Gate is the seed's super-seeding decision: which peer may fetch which leaf
// block from the seed right now. Initially each leaf goes to one peer; every
// Interval since a block was first served, one more peer may get it from the
// seed. Peers refused here get DONT_HAVE and fetch the block from the peers
// that have it. Intermediate (dag-pb) blocks are always served: they are
// small and every device needs them to know what to ask for.
//
// The decision is pure: time is passed in. Safe for concurrent use.
type Gate struct {
	cfg GateConfig

	mu     sync.Mutex
	grants map[cid.Cid]*grant
}

type grant struct {
	first time.Time
	peers map[peer.ID]struct{}
}

// NewGate returns a gate with cfg.
func NewGate(cfg GateConfig) *Gate {
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 1 << 16
	}
	return &Gate{cfg: cfg, grants: make(map[cid.Cid]*grant)}
}

// Allow reports whether p may fetch c from the seed at now.
func (g *Gate) Allow(p peer.ID, c cid.Cid, now time.Time) bool {
	if g.cfg.Interval <= 0 || c.Type() != cid.Raw {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.grants[c]
	if !ok {
		if len(g.grants) >= g.cfg.MaxTracked {
			g.evictOldest()
		}
		g.grants[c] = &grant{first: now, peers: map[peer.ID]struct{}{p: {}}}
		return true
	}
	if _, ok := gr.peers[p]; ok {
		return true
	}
	quota := 1 + int(now.Sub(gr.first)/g.cfg.Interval)
	if len(gr.peers) >= quota {
		return false
	}
	gr.peers[p] = struct{}{}
	return true
}

func (g *Gate) evictOldest() {
	var oldest cid.Cid
	var t time.Time
	for c, gr := range g.grants {
		if !oldest.Defined() || gr.first.Before(t) {
			oldest, t = c, gr.first
		}
	}
	delete(g.grants, oldest)
}
