package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockstore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/content/swarm"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/hostile"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// ErrUnsupported is returned for scenario features the stack engine does
// not simulate (see the package doc).
var ErrUnsupported = errors.New("not simulated by the stack engine")

const (
	product  = "plc-fw"
	version  = "2.0.0"
	cvss     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
	settle   = 3 * time.Second        // virtual time for connections and meshes to form
	poll     = 100 * time.Millisecond // how often completion is checked (times come from the nodes)
	maxSteps = 600                    // upload series length at most
)

// Run simulates s on g (g = scenario.Build(s)) with real nodes and returns
// the result with Engine "stack". It must run inside a synctest bubble
// (InBubble, or synctest.Test in a test): time.Now is virtual there, and
// every figure is virtual time. progress, if not nil, is called about once
// a virtual second with the seconds simulated and the horizon.
func Run(ctx context.Context, s *scenario.Scenario, g *scenario.Graph, progress func(done, total float64)) (*scenario.Result, error) {
	switch {
	case s.Churn.OfflineFraction > 0 || s.Churn.LeaveFraction > 0:
		return nil, fmt.Errorf("churn is %w; use the model engine", ErrUnsupported)
	case len(s.SeedOutages) > 0:
		return nil, fmt.Errorf("seed outages are %w; use the model engine", ErrUnsupported)
	case s.Links.Seed.Loss > 0 || s.Links.Gateway.Loss > 0 || s.Links.Controller.Loss > 0:
		return nil, fmt.Errorf("packet loss is %w (simnet has none); use the model engine", ErrUnsupported)
	}
	dir, err := os.MkdirTemp("", "tocsin-sim-")
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{s: s, g: g, dir: dir, ctx: ctx, rng: scenario.NewRand(s.Seed, 10)}
	defer r.close()
	if err := r.setup(); err != nil {
		return nil, err
	}
	return r.simulate(progress)
}

type run struct {
	s   *scenario.Scenario
	g   *scenario.Graph
	dir string
	ctx context.Context

	// t0 is when the first advisory was published (partitions count
	// from it); nil before.
	t0 atomic.Pointer[time.Time]

	rngMu sync.Mutex
	rng   *rand.Rand

	sup   supplier
	nw    *simnet.Simnet
	hosts []host.Host
	nodes []*node.Node // nil for adversaries
	// adversaries' parts: forgers' topics, bad-block nodes' bitswaps
	topics []*pubsub.Topic
	badBS  []*bitswap.Bitswap

	mu    sync.Mutex
	advAt []time.Time // when each node accepted the first advisory
	// forged counts honest nodes that accepted a forged advisory.
	forged int
	file   []byte
}

type supplier struct {
	root, rel, adv *trust.PrivateKey
	rootPath       string
}

func (r *run) setup() error {
	n := len(r.g.Nodes)
	r.advAt = make([]time.Time, n)
	r.nodes = make([]*node.Node, n)

	// The supplier: one root key, one key per role.
	var keys [4]*trust.PrivateKey
	for i := range keys {
		k, err := trust.GenerateKey(nil)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		keys[i] = k
	}
	r.sup = supplier{root: keys[0], rel: keys[1], adv: keys[2], rootPath: filepath.Join(r.dir, "root.json")}
	root := trust.NewRoot(1, time.Now().AddDate(1, 0, 0), map[string]trust.RoleKeys{
		trust.RoleRoot:      {Keys: []trust.PublicKey{keys[0].Public()}, Threshold: 1},
		trust.RoleRelease:   {Keys: []trust.PublicKey{keys[1].Public()}, Threshold: 1},
		trust.RoleAdvisory:  {Keys: []trust.PublicKey{keys[2].Public()}, Threshold: 1},
		trust.RoleHeartbeat: {Keys: []trust.PublicKey{keys[3].Public()}, Threshold: 1},
	})
	env, err := trust.SignRoot(root, keys[0])
	if err != nil {
		return fmt.Errorf("sim: sign root: %w", err)
	}
	if err := os.WriteFile(r.sup.rootPath, env.Marshal(), 0o644); err != nil {
		return fmt.Errorf("sim: %w", err)
	}

	// The network: one link setting per node, latency per pair.
	settings := make([]simlibp2p.NodeLinkSettingsAndCount, n)
	for i, nd := range r.g.Nodes {
		l := r.s.Link(nd.Role)
		settings[i] = simlibp2p.NodeLinkSettingsAndCount{Count: 1, LinkSettings: simnet.NodeBiDiLinkSettings{
			Downlink: simnet.LinkSettings{BitsPerSecond: int(float64(l.Down) * 8)},
			Uplink:   simnet.LinkSettings{BitsPerSecond: int(float64(l.Up) * 8)},
		}}
	}
	index := make(map[[4]byte]int32, n)
	for i := range n {
		var k [4]byte
		copy(k[:], simnet.IntToPublicIPv4(i).To4())
		index[k] = int32(i)
	}
	nodeOf := func(a net.Addr) int {
		u, ok := a.(*net.UDPAddr)
		if !ok {
			return 0
		}
		var k [4]byte
		copy(k[:], u.IP.To4())
		return int(index[k])
	}
	latency := func(p *simnet.Packet) time.Duration {
		a, b := nodeOf(p.From), nodeOf(p.To)
		l, j := r.s.Latency(r.g, a, b)
		if t0 := r.t0.Load(); t0 != nil {
			now := time.Since(*t0).Seconds()
			if until, held := r.s.Partitioned(r.g, a, b, now); held {
				l += until - now
			}
		}
		if j > 0 {
			r.rngMu.Lock()
			l += (2*r.rng.Float64() - 1) * j
			r.rngMu.Unlock()
		}
		return time.Duration(l * float64(time.Second))
	}
	nw, meta, err := simlibp2p.SimpleLibp2pNetwork(settings, latency, simlibp2p.NetworkSettings{})
	if err != nil {
		return fmt.Errorf("sim: network: %w", err)
	}
	r.nw, r.hosts = nw, meta.Nodes
	nw.Start()

	// The patch, its DAG for bad-block nodes, and the nodes.
	if size := r.s.PatchBytes(); size > 0 {
		r.file = make([]byte, size)
		rng := scenario.NewRand(r.s.Seed, 11)
		for i := range r.file {
			r.file[i] = byte(rng.Uint32())
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i, nd := range r.g.Nodes {
		h := r.hosts[i]
		switch {
		case nd.Role == scenario.RoleSeed:
			cfg := &node.Config{Role: node.RoleSeed, DataDir: filepath.Join(r.dir, fmt.Sprint("n", i)), TrustRoot: r.sup.rootPath, UplinkRate: r.uplink(nd.Role)}
			nn, err := node.New(r.ctx, cfg, node.Options{Host: h, Logger: quiet, MemoryStore: true})
			if err != nil {
				return fmt.Errorf("sim: seed %d: %w", i, err)
			}
			r.nodes[i] = nn
		case nd.Behaviour == scenario.Honest:
			i := i
			cfg := &node.Config{DataDir: filepath.Join(r.dir, fmt.Sprint("n", i)), TrustRoot: r.sup.rootPath, Hardware: "x200",
				Products:  []node.Product{{ID: product, Version: "1.0.0"}},
				Installer: node.Installer{Command: []string{"true"}, Timeout: 30 * time.Second}, Transfer: r.s.Patch.Transfer,
				UplinkRate: r.uplink(nd.Role)}
			nn, err := node.New(r.ctx, cfg, node.Options{Host: h, Logger: quiet, MemoryStore: true, DiscardFiles: true, NoFleetReports: true,
				OnAccept: func(key string, at time.Time) { r.accepted(i, key, at) }})
			if err != nil {
				return fmt.Errorf("sim: device %d: %w", i, err)
			}
			r.nodes[i] = nn
		default:
			if err := r.adversary(i, nd.Behaviour); err != nil {
				return err
			}
		}
	}

	// Connections, dialled as the graph says, all at once.
	var wg sync.WaitGroup
	for a := range r.g.Adj {
		for _, b := range r.g.Adj[a] {
			if int(b) < a {
				continue
			}
			wg.Add(1)
			go func(a, b int) {
				defer wg.Done()
				c, cancel := context.WithTimeout(r.ctx, 30*time.Second)
				defer cancel()
				_ = r.hosts[a].Connect(c, peer.AddrInfo{ID: r.hosts[b].ID(), Addrs: r.hosts[b].Addrs()})
			}(a, int(b))
		}
	}
	wg.Wait()
	time.Sleep(settle)
	return nil
}

// uplink is node.Config.UplinkRate for a node of role: its link's upload
// rate, as an operator who knows the link would set it.
func (r *run) uplink(role scenario.Role) string {
	return fmt.Sprintf("%dB/s", int64(r.s.Link(role).Up))
}

// adversary starts a hostile node: GossipSub that never forwards, and for
// bad-block nodes a bitswap that corrupts every data block.
func (r *run) adversary(i int, b scenario.Behaviour) error {
	h := r.hosts[i]
	ps, err := pubsub.NewGossipSub(r.ctx, h)
	if err != nil {
		return fmt.Errorf("sim: adversary %d: %w", i, err)
	}
	self := h.ID()
	// Only its own messages pass its validator: it relays nothing.
	if err := ps.RegisterTopicValidator(overlay.TopicAnnounce, func(_ context.Context, from peer.ID, _ *pubsub.Message) pubsub.ValidationResult {
		if from == self {
			return pubsub.ValidationAccept
		}
		return pubsub.ValidationIgnore
	}); err != nil {
		return fmt.Errorf("sim: adversary %d: %w", i, err)
	}
	t, err := ps.Join(overlay.TopicAnnounce)
	if err != nil {
		return fmt.Errorf("sim: adversary %d: %w", i, err)
	}
	if _, err := t.Subscribe(); err != nil {
		return fmt.Errorf("sim: adversary %d: %w", i, err)
	}
	if b == scenario.Forger {
		r.topics = append(r.topics, t)
	}
	if b == scenario.BadBlocks && r.file != nil {
		bs := blockstore.NewBlockstore(content.OpenMemStore().DS)
		if _, err := content.Import(r.ctx, content.DAGService(bs), bytes.NewReader(r.file), int(r.s.Patch.Chunk)); err != nil {
			return fmt.Errorf("sim: adversary %d: %w", i, err)
		}
		x := bitswap.New(r.ctx, bsnet.NewFromIpfsHost(h), nil, hostile.CorruptLeaves{Blockstore: bs})
		r.badBS = append(r.badBS, x)
	}
	return nil
}

func (r *run) accepted(i int, key string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case strings.HasPrefix(key, "advisory/TSA-FORGED"):
		r.forged++
	case key == "advisory/TSA-"+version && r.advAt[i].IsZero():
		r.advAt[i] = at
	}
}

// simulate publishes, watches and measures.
func (r *run) simulate(progress func(done, total float64)) (*scenario.Result, error) {
	seed := r.nodes[0]
	now := time.Now()
	var relEnv []byte
	id := product + "@" + version
	if r.file != nil {
		path := filepath.Join(r.dir, "patch.bin")
		if err := os.WriteFile(path, r.file, 0o600); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		imp, err := seed.ImportFile(r.ctx, path, int(r.s.Patch.Chunk))
		if err != nil {
			return nil, fmt.Errorf("sim: import patch: %w", err)
		}
		sum := sha256.Sum256(r.file)
		rel := trust.Release{Product: product, Version: version, RootCID: imp.Root.String(), Size: imp.Size, SHA256: hex.EncodeToString(sum[:]),
			ChunkSize: int(r.s.Patch.Chunk), Published: now, Seq: 1, Expires: now.AddDate(0, 6, 0)}
		env, err := trust.SignRelease(rel, r.sup.rel)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		relEnv = env.Marshal()
	}
	advisory := func(id string, key *trust.PrivateKey) ([]byte, error) {
		b, err := csaf.New(csaf.Params{ID: id, Title: "simulated advisory", Product: product, FixedVersion: version,
			CVSS: cvss, Time: now, Initial: now, Revision: 1})
		if err != nil {
			return nil, fmt.Errorf("sim: advisory: %w", err)
		}
		return trust.SignWith(trust.TypeCSAF, b, key).Marshal(), nil
	}
	advEnv, err := advisory("TSA-"+version, r.sup.adv)
	if err != nil {
		return nil, err
	}
	forger, err := trust.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	forgedEnv, err := advisory("TSA-FORGED-"+version, forger)
	if err != nil {
		return nil, err
	}

	// Time zero: the seed announces; forgers publish at the same moment.
	start := time.Now()
	r.t0.Store(&start)
	if relEnv != nil {
		if _, err := seed.Announce(r.ctx, relEnv); err != nil {
			return nil, fmt.Errorf("sim: announce release: %w", err)
		}
	}
	if _, err := seed.Announce(r.ctx, advEnv); err != nil {
		return nil, fmt.Errorf("sim: announce advisory: %w", err)
	}
	var forgedSent int64
	for _, t := range r.topics {
		if t.Publish(r.ctx, forgedEnv) == nil {
			forgedSent++
		}
	}

	horizon := r.s.Horizon.D()
	honest := 0
	for n := range r.g.Nodes {
		if r.g.HonestDevice(n) {
			honest++
		}
	}
	patchAt := make([]time.Time, len(r.g.Nodes))
	var seedUp, peerUp []float64 // cumulative bytes sent, per poll
	lastProgress := time.Duration(0)
	for {
		elapsed := time.Since(start)
		var sSent, pSent float64
		advDone, patchDone := 0, 0
		for n, nn := range r.nodes {
			if nn == nil {
				continue
			}
			sent := float64(nn.BitswapStats().DataSent) + float64(nn.SwarmStats().Sent)
			if r.g.Nodes[n].Role == scenario.RoleSeed {
				sSent += sent
				continue
			}
			pSent += sent
			r.mu.Lock()
			if !r.advAt[n].IsZero() {
				advDone++
			}
			r.mu.Unlock()
			if r.file != nil && patchAt[n].IsZero() {
				if at, ok := nn.Fetched(id); ok {
					patchAt[n] = at
				}
			}
			if !patchAt[n].IsZero() {
				patchDone++
			}
		}
		seedUp, peerUp = append(seedUp, sSent), append(peerUp, pSent)
		if progress != nil && elapsed-lastProgress >= time.Second {
			progress(elapsed.Seconds(), horizon.Seconds())
			lastProgress = elapsed
		}
		if advDone == honest && (r.file == nil || patchDone == honest) || elapsed >= horizon {
			break
		}
		time.Sleep(poll)
	}
	virtual := time.Since(start)
	if progress != nil {
		progress(horizon.Seconds(), horizon.Seconds())
	}

	// Figures.
	res := &scenario.Result{Engine: "stack", Nodes: r.g.Devices, HonestDevices: honest, VirtualSeconds: scenario.Round(virtual.Seconds()),
		BytesBySource: map[string]int64{}}
	advTimes := make([]float64, 0, honest)
	patchTimes := make([]float64, 0, honest)
	var seedSent, peerSent, recv, dup, unwanted, mismatched int64
	var waits swarm.Waits
	for n, nn := range r.nodes {
		if nn == nil {
			continue
		}
		st, sw := nn.BitswapStats(), nn.SwarmStats()
		if r.g.Nodes[n].Role == scenario.RoleSeed {
			seedSent += int64(st.DataSent) + sw.Sent
			continue
		}
		peerSent += int64(st.DataSent) + sw.Sent
		recv += int64(st.DataReceived) + sw.Received + sw.Duplicate
		dup += int64(st.DupData) + sw.Duplicate
		if r.g.HonestDevice(n) { // as documented, and as the model engine counts
			waits = waits.Add(sw.Waits)
		}
		advTimes = append(advTimes, since(start, r.advAt[n]))
		patchTimes = append(patchTimes, since(start, patchAt[n]))
		if r.g.Nodes[n].Behaviour == scenario.Honest && (r.s.Adversaries.BadBlocks > 0) {
			c := nn.Status()
			unwanted += int64(c.Counters.UnwantedBlocks)
			if rs := c.Releases[id]; rs != nil && strings.Contains(rs.Error, "does not match") {
				mismatched++
			}
		}
	}
	res.Advisory.DeliveredFraction, res.Advisory.P50S, res.Advisory.P99S, res.Advisory.MaxS, res.Advisory.CDF = scenario.Summarise(advTimes, honest)
	if r.file != nil {
		p := &scenario.PatchResult{}
		p.CompletedFraction, p.P50S, p.P99S, p.MaxS, p.CDF = scenario.Summarise(patchTimes, honest)
		f := float64(len(r.file))
		p.SeedEgressRatio = scenario.Round(float64(seedSent) / f)
		if recv > 0 {
			p.DuplicateRatio = scenario.Round(float64(dup) / float64(recv))
		}
		p.Waits = scenario.NewWaitShares(waits.Full, waits.Starved, waits.Blocked)
		res.Patch = p
	}
	var badServed int64
	for _, b := range r.badBS {
		if st, err := b.Stat(); err == nil {
			badServed += int64(st.BlocksSent)
		}
	}
	res.Attacks = scenario.Attacks{ForgedSent: forgedSent, ForgedAccepted: int64(r.forged), BadBlocksServed: badServed, BadBlocksStored: mismatched}
	res.BytesBySource["seed"] = seedSent
	res.BytesBySource["peer"] = peerSent
	res.BytesBySource["duplicate"] = dup
	res.BytesBySource["rejected"] = unwanted * int64(r.s.Patch.Chunk)
	res.Upload = series(seedUp, peerUp, poll.Seconds())
	if err := res.Finish(r.s, r.g); err != nil {
		return nil, err
	}
	return res, nil
}

// since returns the seconds from start to at, or -1 if at is zero.
func since(start, at time.Time) float64 {
	if at.IsZero() {
		return -1
	}
	return math.Max(0, at.Sub(start).Seconds())
}

// series turns cumulative byte counts sampled every step seconds into
// rates, merged into at most maxSteps steps.
func series(seed, peers []float64, step float64) scenario.Series {
	merge := (len(seed) + maxSteps - 1) / maxSteps
	if merge < 1 {
		merge = 1
	}
	out := scenario.Series{StepS: scenario.Round(step * float64(merge))}
	for i := merge; i < len(seed)+merge; i += merge {
		j := min(i, len(seed)-1)
		k := i - merge
		out.Seed = append(out.Seed, scenario.Round((seed[j]-seed[k])/out.StepS))
		out.Peers = append(out.Peers, scenario.Round((peers[j]-peers[k])/out.StepS))
	}
	return out
}

func (r *run) close() {
	for _, nn := range r.nodes {
		if nn != nil {
			_ = nn.Close()
		}
	}
	for _, b := range r.badBS {
		_ = b.Close()
	}
	for i, h := range r.hosts {
		if r.nodes[i] == nil {
			_ = h.Close()
		}
	}
	if r.nw != nil {
		r.nw.Close()
	}
	time.Sleep(time.Second) // let timers of closed parts run out inside the bubble
}
