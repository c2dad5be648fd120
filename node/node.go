package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsmsg "github.com/ipfs/boxo/bitswap/message"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Options are the dependencies a caller may inject; the zero value is
// production.
type Options struct {
	// Host replaces the libp2p host built from the config (tests use
	// mocknet or simnet hosts). The node closes it on Close.
	Host host.Host
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand seeds block scheduling. Default: seeded from the peer ID.
	Rand *rand.Rand
	// BitswapOptions are appended to the node's bitswap options.
	BitswapOptions []bitswap.Option
	// PubSubOptions are appended to the node's GossipSub options.
	PubSubOptions []pubsub.Option
	// ScoreUnit tunes GossipSub peer scoring (overlay.ScoreParams).
	// Default overlay.ScoreUnit (a minute).
	ScoreUnit time.Duration
	// MemoryStore keeps blocks and state in memory instead of a badger
	// database under the data dir (the simulator runs thousands of nodes
	// in one process). Nothing survives Close. Default false.
	MemoryStore bool
	// DiscardFiles assembles and verifies each release (size and SHA-256
	// against the manifest) without keeping the file: the simulator
	// measures distribution, and a thousand copies of a patch would only
	// fill its disk. The installer gets an empty TOCSIN_FILE. Default
	// false.
	DiscardFiles bool
	// NoFleetReports leaves the status topic alone: the node neither
	// publishes its status reports nor reads others'. Every device's
	// report reaches every device of its fleet, O(N²) messages, which the
	// simulator leaves out; without reports there is no fleet view and no
	// wave statistics. Default false.
	NoFleetReports bool
	// OnAccept, if set, is called with each document's key (for example
	// "advisory/TSA-1") and the node's clock when the document has been
	// verified and stored. It must not block.
	OnAccept func(key string, at time.Time)
}

// Node is a running Tocsin node. Its methods are safe for concurrent use.
type Node struct {
	cfg   *Config
	log   *slog.Logger
	now   func() time.Time
	retry policy.RetryPolicy

	host         host.Host
	store        *content.Store
	audit        *audit.Log // lifecycle evidence (devices)
	gater        *overlay.Gater
	discardFiles bool
	onAccept     func(string, time.Time)
	// strikes bans peers for offences GossipSub cannot see.
	strikes overlay.Strikes
	bs      *bitswap.Bitswap
	bserv   blockservice.BlockService
	swarm   *swarmSvc             // the piece-exchange protocol (swarm.go)
	served  blockstore.Blockstore // the store as uploads read it (rate-capped)
	gossip  *overlay.Gossip
	sync    *overlay.Sync
	gate    *content.Gate

	downLim      *rate.Limiter // max_download_rate; nil = no cap
	kick         chan struct{}
	stallTimeout time.Duration
	fetchWindow  int

	admitMu sync.Mutex // serialises admit: one state write at a time

	mu          sync.Mutex
	trust       *trust.State        // root, sequence marks, heartbeat
	owner       *policy.OwnerPolicy // nil: no owner policy (authorise on receipt)
	operators   []trust.PublicKey   // the owner policy's operator keys
	fleet       map[string]Report   // newest status report per device (peer ID)
	reportSeq   uint64
	statusTopic *pubsub.Topic
	lastFresh   string // freshness state last reported
	rng         *rand.Rand
	docs        map[string]trust.Document // by Document.Key()
	order       []string                  // doc keys in arrival order
	progress    map[string]*releaseState  // by release ID
	// progressWritten: when a fetch's progress last went to status.json.
	progressWritten time.Time
	// statusAsync: a progress write of status.json is under way (see
	// progressUpdate); statusMu orders all writes of it, so the last one
	// written holds the latest state.
	statusAsync atomic.Bool
	statusMu    sync.Mutex
	// bitswapRounds: bitswap fetches (getRound) running now; while none
	// runs, no block of ours is wanted by our bitswap client.
	bitswapRounds atomic.Int64
	installed     map[string]string // product → version installed by Tocsin
	peersSeen     map[peer.ID]struct{}
	fetches       map[string]*fetchTrack // running fetches by release ID
	// ended are fetches that ended within the last endedGrace: their
	// blocks may still be in flight and are not held against a peer.
	ended      []*fetchTrack
	counters   Counters
	statusPath string
	started    time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Counters are the node's running totals.
type Counters struct {
	// DocsAccepted are documents verified and stored.
	DocsAccepted int `json:"docs_accepted"`
	// DocsRejected failed verification: forged, tampered, malformed.
	DocsRejected int `json:"docs_rejected"`
	// DocsIgnored were already held.
	DocsIgnored int `json:"docs_ignored"`
	// DocsRefused were validly signed but not acceptable: older than what
	// is trusted (rollback, replay), expired, or conflicting.
	DocsRefused int `json:"docs_refused"`
	// CorruptBlocks were found rotten in the store, deleted and re-fetched.
	CorruptBlocks int `json:"corrupt_blocks"`
	// UnwantedBlocks arrived from peers while fetching but matched no
	// block being fetched: corrupted data (bitswap derives a block's CID
	// from its bytes) or unsolicited pushes. Each counts against its
	// sender; see PeersBanned.
	UnwantedBlocks int `json:"unwanted_blocks"`
	// PeersBanned counts bans: a peer that sent overlay.Strikes' limit of
	// unwanted blocks is disconnected, refused for the ban's length and
	// given a GossipSub score below the graylist threshold.
	PeersBanned int `json:"peers_banned"`
}

// New wires a node from cfg and starts it: host, gossip, sync, bitswap,
// store, and the evaluate loop. Call Close to stop it.
func New(ctx context.Context, cfg *Config, opt Options) (_ *Node, err error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	ts, err := cfg.LoadTrustRoot()
	if err != nil {
		return nil, err
	}
	dataDir := cfg.Resolve(cfg.DataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	n := &Node{
		cfg: cfg, log: log, now: now, trust: ts, retry: policy.DefaultRetryPolicy(),
		kick: make(chan struct{}, 1), docs: map[string]trust.Document{}, progress: map[string]*releaseState{},
		installed: map[string]string{}, fleet: map[string]Report{}, peersSeen: map[peer.ID]struct{}{}, fetches: map[string]*fetchTrack{},
		statusPath: filepath.Join(dataDir, "status.json"), started: now(),
		ctx: cctx, cancel: cancel, stallTimeout: cfg.StallTimeout, fetchWindow: cfg.FetchWindow, discardFiles: opt.DiscardFiles, onAccept: opt.OnAccept,
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if err := n.loadOwnerPolicy(); err != nil {
		return nil, err
	}
	if opt.MemoryStore {
		n.store = content.OpenMemStore()
	} else if n.store, err = content.OpenStore(filepath.Join(dataDir, "store"), content.StoreConfig{}); err != nil {
		return nil, err
	}
	n.store.Blocks.OnCorrupt = func(c cid.Cid, err error) {
		n.count(func(c *Counters) { c.CorruptBlocks++ })
		n.log.Error("corrupt block in the store: deleted, will be fetched again", "cid", c, "err", err)
	}
	if err := n.loadState(cctx); err != nil {
		return nil, err
	}
	if err := n.loadRoster(); err != nil {
		return nil, err
	}

	n.host = opt.Host
	if n.host == nil {
		hc, err := n.hostConfig()
		if err != nil {
			return nil, err
		}
		n.host, err = overlay.NewHost(hc)
		if err != nil {
			return nil, err
		}
	}
	if cfg.Role != RoleSeed {
		if err := n.openAudit(); err != nil {
			return nil, err
		}
	}
	n.rng = opt.Rand
	if n.rng == nil {
		sum := sha256.Sum256([]byte(n.host.ID()))
		n.rng = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
	}
	n.host.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		n.mu.Lock()
		n.peersSeen[c.RemotePeer()] = struct{}{}
		n.mu.Unlock()
	}})

	bsOpts := []bitswap.Option{bitswap.ProviderSearchDelay(500 * time.Millisecond), bitswap.WithTracer(refetchTracer{n})}
	// The server hands the transport at most one block per peer at a time
	// (boxo's default: 1 MiB). A block handed to the transport is
	// committed: a CANCEL that arrives later cannot call it back, and the
	// requester, having meanwhile got the block elsewhere, receives it as
	// a duplicate. The number of send workers stays at boxo's 8: with one
	// worker (fewer duplicates still, 21% instead of 40% on 100 simulated
	// nodes), a single slow or hostile peer reading slowly can hold the
	// only worker for up to bitswap's send timeout and stall serving for
	// everyone (on the 30%-loss namespace fleet, single runs of check 9c
	// had their slowest device at 174 s with one worker, 81 s with eight).
	bsOpts = append(bsOpts, bitswap.MaxOutstandingBytesPerPeer(serverBytesPerPeer))
	if g := cfg.gate(); g.Interval > 0 {
		n.gate = content.NewGate(g)
		bsOpts = append(bsOpts, bitswap.WithPeerBlockRequestFilter(func(p peer.ID, c cid.Cid) bool {
			return n.gate.Allow(p, c, n.now())
		}))
	}
	bsOpts = append(bsOpts, opt.BitswapOptions...)
	served := content.NewThrottled(n.store.Blocks.Served(), cfg.uploadRate())
	n.served = served
	if r := cfg.rate(cfg.MaxDownloadRate); r > 0 {
		n.downLim = content.NewRateLimiter(r)
	}
	// A banned peer's connections are closed as they open, whoever
	// dialled: the gater refuses it on hosts built here, but a host passed
	// in (the simulator's, tests') may have none.
	n.host.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if n.strikes.Banned(c.RemotePeer(), n.now()) {
			go func() { _ = c.Close() }()
		}
	}})
	n.bs = bitswap.New(cctx, bsnet.NewFromIpfsHost(n.host), nil, served, bsOpts...)
	n.bserv = blockservice.New(n.store.Blocks, n.bs)
	n.swarm = newSwarm(n)

	n.gossip, err = overlay.JoinGossip(cctx, n.host, n.validate, opt.ScoreUnit, n.appScore, opt.PubSubOptions...)
	if err != nil {
		return nil, err
	}
	n.sync = overlay.StartSync(cctx, n.host, n, n.intake, log)
	if !opt.NoFleetReports {
		if err := n.joinStatus(); err != nil {
			return nil, err
		}
	}

	peers, _ := overlay.ParsePeers(cfg.Bootstrap) // checked in Check
	n.goFn(func() { overlay.KeepConnected(cctx, n.host, peers, 5*time.Second, log) })
	if cfg.MDNS {
		if err := n.startMDNS(); err != nil {
			return nil, err
		}
	}
	if cfg.DHT {
		ns := "tocsin/default"
		if r := n.roster(); r != nil {
			ns = "tocsin/" + r.Fleet
		}
		if _, err := overlay.StartDHT(cctx, n.host, peers, ns, time.Minute, log); err != nil {
			return nil, err
		}
	}
	n.goFn(n.readGossip)
	n.goFn(n.evalLoop)
	n.goFn(n.syncLoop)
	if cfg.Role != RoleSeed && !opt.NoFleetReports {
		n.goFn(n.reportLoop)
	}
	if cfg.Role == RoleSeed && cfg.Seed.HeartbeatKey != "" {
		key, err := trust.LoadPrivateKey(cfg.Resolve(cfg.Seed.HeartbeatKey))
		if err != nil {
			return nil, fmt.Errorf("%w: seed.heartbeat_key: %w", ErrConfig, err)
		}
		n.goFn(func() { n.heartbeatLoop(key) })
	}
	n.writeStatus()
	return n, nil
}

// rngFork returns a generator seeded from the node's, for one task.
func (n *Node) rngFork() *rand.Rand {
	n.mu.Lock()
	defer n.mu.Unlock()
	return rand.New(rand.NewPCG(n.rng.Uint64(), n.rng.Uint64()))
}

func (n *Node) goFn(f func()) {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f() }()
}

func (n *Node) identityPath() string {
	if n.cfg.IdentityKey != "" {
		return n.cfg.Resolve(n.cfg.IdentityKey)
	}
	return filepath.Join(n.cfg.Resolve(n.cfg.DataDir), "identity.key")
}

// Host returns the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs returns the node's full multiaddrs.
func (n *Node) Addrs() []string { return overlay.FullAddrs(n.host) }

// Close stops the node and releases its store. It is safe to call twice.
func (n *Node) Close() error {
	n.cancel()
	if n.gossip != nil {
		n.gossip.Close()
	}
	if n.bs != nil {
		_ = n.bs.Close()
	}
	var errs []error
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	n.wg.Wait()
	if n.store != nil {
		n.writeStatus()
		errs = append(errs, n.store.Close())
		n.store = nil
	}
	return errors.Join(errs...)
}

// Done is closed when the node stops.
func (n *Node) Done() <-chan struct{} { return n.ctx.Done() }

func (n *Node) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// loadOrCreateIdentity reads a libp2p identity key, creating it (0600) if the
// file does not exist.
func loadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, fmt.Errorf("generate identity: %w", err)
		}
		if err := WriteIdentity(path, k); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	k, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	return k, nil
}

// WriteIdentity writes a libp2p identity key with mode 0600, refusing to
// overwrite an existing file.
func WriteIdentity(path string, k crypto.PrivKey) error {
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return fmt.Errorf("encode identity: %w", err)
	}
	if err := fsutil.WriteNew(path, b, 0o600); err != nil {
		return fmt.Errorf("write identity key: %w", err)
	}
	return nil
}

// fetchTrack remembers, for one running fetch, the blocks the store already
// held when the fetch asked for their level, and counts copies of them that
// arrive anyway: the figure that proves a resumed download does not fetch
// again what it already has.
type fetchTrack struct {
	cancel    context.CancelFunc // stops the fetch (a recall arrived)
	mu        sync.Mutex
	held      map[cid.Cid]struct{}
	known     map[cid.Cid]struct{} // every block of the DAG seen so far
	refetched int
	endedAt   time.Time // when the fetch ended (zero while it runs)
}

// endedGrace is how long blocks of a fetch that has ended (a delta given
// up for the full file, a finished release) are still expected: requests
// already sent may yet be answered.
const endedGrace = time.Minute

// serverBytesPerPeer is the most block bytes bitswap's server hands to the
// transport for one peer at a time: one default block (see New).
const serverBytesPerPeer = 256 << 10

// hold records the members of level that are not in want, and all of level
// as part of the DAG.
func (t *fetchTrack) hold(level, want []cid.Cid) {
	wanted := make(map[cid.Cid]struct{}, len(want))
	for _, c := range want {
		wanted[c] = struct{}{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range level {
		t.known[c] = struct{}{}
		if _, ok := wanted[c]; !ok {
			t.held[c] = struct{}{}
		}
	}
}

func (n *Node) trackFetch(id string, cancel context.CancelFunc) *fetchTrack {
	t := &fetchTrack{held: map[cid.Cid]struct{}{}, known: map[cid.Cid]struct{}{}, cancel: cancel}
	n.mu.Lock()
	n.fetches[id] = t
	n.mu.Unlock()
	return t
}

func (n *Node) untrackFetch(id string, t *fetchTrack) int {
	n.mu.Lock()
	if n.fetches[id] == t {
		delete(n.fetches, id)
	}
	t.endedAt = n.now()
	n.ended = append(n.ended, t)
	n.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refetched
}

// refetchTracer sees every bitswap message the node receives: it charges
// each block to the running fetches that already held it, and each block
// that belongs to no running fetch to the peer that sent it (see
// Node.unwanted).
type refetchTracer struct{ n *Node }

func (r refetchTracer) MessageReceived(from peer.ID, m bsmsg.BitSwapMessage) {
	bs := m.Blocks()
	if len(bs) == 0 {
		return
	}
	r.n.mu.Lock()
	tracks := make([]*fetchTrack, 0, len(r.n.fetches))
	for _, t := range r.n.fetches {
		tracks = append(tracks, t)
	}
	now := r.n.now()
	live := r.n.ended[:0]
	for _, t := range r.n.ended {
		if now.Sub(t.endedAt) < endedGrace {
			live = append(live, t)
		}
	}
	r.n.ended = live
	recent := append([]*fetchTrack(nil), live...)
	r.n.mu.Unlock()
	if len(tracks) == 0 {
		return // a late block after a fetch ended is not an offence
	}
	unwanted := 0
	for _, b := range bs {
		known := false
		for _, t := range tracks {
			t.mu.Lock()
			if _, ok := t.held[b.Cid()]; ok {
				t.refetched++
			}
			if _, ok := t.known[b.Cid()]; ok {
				known = true
			}
			t.mu.Unlock()
		}
		for _, t := range recent {
			t.mu.Lock()
			if _, ok := t.known[b.Cid()]; ok {
				known = true
			}
			t.mu.Unlock()
		}
		if !known {
			unwanted++
		}
	}
	if unwanted > 0 {
		r.n.unwanted(from, unwanted)
	}
}

// unwanted charges k unwanted blocks to p. Past overlay.Strikes' limit the
// peer is banned: disconnected, refused by the gater (real hosts), and
// scored below GossipSub's graylist threshold.
func (n *Node) unwanted(p peer.ID, k int) {
	n.count(func(c *Counters) { c.UnwantedBlocks += k })
	if !n.strikes.Charge(p, k, n.now()) {
		return
	}
	n.count(func(c *Counters) { c.PeersBanned++ })
	n.log.Warn("peer banned: it sent blocks that match nothing being fetched (corrupted or unsolicited data)", "peer", p)
	go func() { _ = n.host.Network().ClosePeer(p) }() // not on bitswap's receive path
}

// appScore is GossipSub's application-specific score: far below the
// graylist threshold for a banned peer, 0 otherwise.
func (n *Node) appScore(p peer.ID) float64 {
	if n.strikes.Banned(p, n.now()) {
		return -1000
	}
	return 0
}

// errBanned is the gater's reason for refusing a banned peer.
var errBanned = errors.New("peer banned for serving corrupted blocks")

func (refetchTracer) MessageSent(peer.ID, bsmsg.BitSwapMessage) {}
