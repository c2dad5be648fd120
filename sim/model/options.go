package model

import "github.com/tocsin-iiot/tocsin/content/swarm"

// Options are the protocol constants of the model. DefaultOptions gives the
// values the real node (or the library it uses) has; a field left zero by a
// caller that builds Options by hand means "off" where that makes sense
// (GateIntervalSeconds, WantTimeout) and is replaced by its default
// otherwise.
type Options struct {
	// SwarmConfig and UploadQueue apply when the scenario's patch moves
	// by Tocsin's swarm protocol (patch.transfer: swarm, the node's
	// default; node/swarm.go): the node's own scheduler and seed reveal
	// (content/swarm) with this configuration (as the node: DefaultOptions
	// leaves Window and Endgame zero, which the engine sets to
	// swarm.WindowFor and swarm.EndgameFor the scenario's chunk size), and uploaders taking at most UploadQueue requests at
	// once (the node's swarmUploadQueue, 3; the node writes two blocks at
	// once, the model sends one after the other at the same total rate). With patch.transfer: bitswap
	// the options below model bitswap (Window, the gate, timeouts).
	SwarmConfig swarm.Config
	UploadQueue int

	// Window is W, the most want-blocks a device keeps outstanding: the
	// node's fetch_window (node.Config.FetchWindow), 8. 8 keeps a device's
	// downlink busy (8 × 256 KiB is about 0.8 s at 20 Mbit/s, well over a
	// round trip) without letting one device hog its neighbours' queues.
	Window int

	// AdvisoryBytes is the size of one advisory message on the wire: the
	// signed envelope with its CSAF document, about 4 KiB.
	AdvisoryBytes int64
	// ValidateSeconds is the CPU time to verify one message (signature,
	// CSAF checks) before it is delivered or forwarded: about 1 ms.
	ValidateSeconds float64

	// GossipSub v1.1 parameters (go-libp2p-pubsub defaults).
	D, Dlo, Dhi, Dlazy int
	// GossipFactor: at each heartbeat IHAVE goes to max(Dlazy,
	// GossipFactor × eligible non-mesh peers).
	GossipFactor float64
	// HeartbeatSeconds is the GossipSub heartbeat (1 s); each node's first
	// heartbeat is at a random phase.
	HeartbeatSeconds float64
	// HistoryGossip is how many heartbeats a message is advertised in
	// IHAVE (3; at most 4).
	HistoryGossip int

	// GateIntervalSeconds is the seed's super-seeding gate interval
	// (content.DefaultGateConfig: 2 s). 0 turns the gate off.
	GateIntervalSeconds float64
	// GateOnWantHave: the gate also judges want-haves, as the node's
	// bitswap.WithPeerBlockRequestFilter does (boxo applies the filter to
	// every wantlist entry). A device's session broadcasts want-have for
	// its first LiveWants wants to every neighbour when it starts, so the
	// first device to reach the seed is granted every chunk it asked
	// about, and the others get DONT_HAVE for them until the quota grows.
	// false: only want-blocks are judged.
	GateOnWantHave bool
	// LiveWants is how many wants a session broadcasts (boxo: 64).
	LiveWants int
	// SeedRetrySeconds is how long a device refused by the gate waits
	// before asking the seed again for the refused blocks: the node's
	// stall timeout (3 s), after which it re-broadcasts its wants. (A
	// boxo session idle for 500 ms, the node's ProviderSearchDelay, or
	// told DONT_HAVE by every peer may re-broadcast sooner; the model
	// keeps the one rule.)
	SeedRetrySeconds float64
	// SyncIntervalSeconds is the catch-up sync period (30 s): a device
	// that lacks a published advisory pulls from every neighbour.
	SyncIntervalSeconds float64

	// WantTimeout turns on bitswap's DONT_HAVE timeout: a want-block not
	// answered within the timeout is treated as DONT_HAVE and sent to
	// another peer that has the block; the first peer may still send it,
	// which is where duplicates come from. The timeout per peer is
	// TimeoutMultiplier × an EWMA (α = 0.5) of that peer's response
	// latency, clamped to [TimeoutMinSeconds, TimeoutMaxSeconds]; before
	// the first response it is WantProcessSeconds + 3 × RTT (boxo's
	// DefaultDontHaveTimeoutConfig: 2, 50 ms, 7 s, 2 s).
	WantTimeout        bool
	TimeoutMultiplier  float64
	TimeoutMinSeconds  float64
	TimeoutMaxSeconds  float64
	WantProcessSeconds float64

	// MaxAdvisories caps how many of the scenario's advisories are
	// simulated (every figure is about the first one; later ones only add
	// gossip load). At most 32.
	MaxAdvisories int
}

// DefaultOptions returns the constants documented on Options.
func DefaultOptions() Options {
	return Options{
		SwarmConfig:         perPiece(swarm.DefaultConfig()),
		UploadQueue:         3,
		Window:              8,
		AdvisoryBytes:       4 << 10,
		ValidateSeconds:     0.001,
		D:                   6,
		Dlo:                 5,
		Dhi:                 12,
		Dlazy:               6,
		GossipFactor:        0.25,
		HeartbeatSeconds:    1,
		HistoryGossip:       3,
		GateIntervalSeconds: 2,
		GateOnWantHave:      true,
		LiveWants:           64,
		SeedRetrySeconds:    3,
		SyncIntervalSeconds: 30,
		WantTimeout:         true,
		TimeoutMultiplier:   2,
		TimeoutMinSeconds:   0.05,
		TimeoutMaxSeconds:   7,
		WantProcessSeconds:  2,
		MaxAdvisories:       32,
	}
}

// normalise fills the fields that must not be zero.
func (o *Options) normalise() {
	d := DefaultOptions()
	if o.UploadQueue <= 0 {
		o.UploadQueue = d.UploadQueue
	}
	if o.Window <= 0 {
		o.Window = d.Window
	}
	if o.Window > 1<<15 {
		o.Window = 1 << 15
	}
	if o.AdvisoryBytes <= 0 {
		o.AdvisoryBytes = d.AdvisoryBytes
	}
	if o.ValidateSeconds < 0 {
		o.ValidateSeconds = 0
	}
	if o.D <= 0 {
		o.D = d.D
	}
	if o.Dlo <= 0 || o.Dlo > o.D {
		o.Dlo = min(d.Dlo, o.D)
	}
	if o.Dhi < o.D {
		o.Dhi = max(d.Dhi, o.D)
	}
	if o.Dlazy < 0 {
		o.Dlazy = 0
	}
	if o.HeartbeatSeconds <= 0 {
		o.HeartbeatSeconds = d.HeartbeatSeconds
	}
	if o.HistoryGossip <= 0 {
		o.HistoryGossip = d.HistoryGossip
	}
	if o.HistoryGossip > maxHistory {
		o.HistoryGossip = maxHistory
	}
	if o.LiveWants <= 0 {
		o.LiveWants = d.LiveWants
	}
	if o.SeedRetrySeconds <= 0 {
		o.SeedRetrySeconds = d.SeedRetrySeconds
	}
	if o.SyncIntervalSeconds <= 0 {
		o.SyncIntervalSeconds = d.SyncIntervalSeconds
	}
	if o.TimeoutMultiplier <= 0 {
		o.TimeoutMultiplier = d.TimeoutMultiplier
	}
	if o.TimeoutMinSeconds <= 0 {
		o.TimeoutMinSeconds = d.TimeoutMinSeconds
	}
	o.TimeoutMinSeconds = max(o.TimeoutMinSeconds, 2*timerResolution)
	if o.TimeoutMaxSeconds < o.TimeoutMinSeconds {
		o.TimeoutMaxSeconds = max(d.TimeoutMaxSeconds, o.TimeoutMinSeconds)
	}
	if o.WantProcessSeconds < 0 {
		o.WantProcessSeconds = 0
	}
	if o.MaxAdvisories <= 0 || o.MaxAdvisories > 32 {
		o.MaxAdvisories = 32
	}
}

// perPiece is c with Window and Endgame zero: set per scenario from its
// chunk size (swarm.WindowFor, swarm.EndgameFor).
func perPiece(c swarm.Config) swarm.Config {
	c.Window, c.Endgame = 0, 0
	return c
}
