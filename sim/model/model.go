package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/tocsin-iiot/tocsin/content/swarm"
	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// ErrTooLarge is returned for a scenario whose per-device chunk state would
// not fit: more than MaxChunks chunks, or devices × chunks over MaxSlots.
var ErrTooLarge = errors.New("scenario too large for the model engine")

// Limits of the model's compact state.
const (
	// MaxChunks is the most chunks a patch may have (the want order is
	// stored as uint16): 16 GiB in 256 KiB chunks.
	MaxChunks = 1 << 16
	// MaxSlots bounds nodes × chunks (about 2.5 bytes each: the want
	// order and three bitsets).
	MaxSlots = 1 << 31
)

// Random streams (scenario.NewRand): 1 and 2 are the graph builder's.
const (
	streamRun   = 3 // jitter, loss, tie-breaks, IHAVE targets
	streamMesh  = 4 // initial GossipSub meshes
	streamSetup = 5 // want orders, heartbeat and sync phases
)

// Node kinds: what a node does in the model.
const (
	kSeed   uint8 = iota // publishes, relays, serves every block (behind the gate)
	kHonest              // relays, fetches, serves what it holds
	kSilent              // receives and fetches; never forwards, answers or serves
	kForger              // forges one advisory per real one; relays and serves nothing
	kBad                 // relays gossip; claims every block and serves corrupt ones
	kSybil               // receives; nothing else
)

// Node flags.
const (
	fOff       uint16 = 1 << iota // offline
	fFetching                     // has the manifest and wants the patch
	fDone                         // holds the whole patch
	fHeartbeat                    // a heartbeat event is pending
	fTick                         // a sync tick event is pending
	fBusy                         // the uplink is sending a block (or committed to one)
	fCounted                      // an honest device the run still waits for
	fProbed                       // its current want-haves have reached the seeds' gates
)

// Edge flags (per direction, on the owner's side of the adjacency).
const (
	efMesh   uint8 = 1 << iota // the neighbour is in the owner's GossipSub mesh
	efBanned                   // the owner stopped reading / asking this neighbour
)

// forgedBit marks a forged advisory in an evGossip event.
const forgedBit = 1 << 31

// timerResolution is the grid want-block timeouts fire on.
const timerResolution = 0.001

// maxHistory bounds Options.HistoryGossip.
const maxHistory = 4

// nodeState is the state of one node, 128 bytes: a million of them. The
// first 32 bytes are what a neighbour reads when it looks for blocks or
// forwards gossip, so that look costs one cache line (big slices are page
// aligned, so every element starts a line).
type nodeState struct {
	have0     [1]uint64 // chunks held, when the patch has at most 64 chunks
	lastGotAt float64   // when lastGot arrived (its HAVE is visible one latency later)
	qLen      int32     // requests queued on the uplink or being sent
	lastGot   int32     // last chunk received, -1 if none
	seen      uint32    // advisories accepted (bit i = advisory i)
	flags     uint16
	kind      uint8
	_         uint8

	ctlFree   float64 // small-message uplink busy until
	downFree  float64 // downlink reserved until
	wakeAt    float64 // earliest pending evWake, +Inf if none
	refusedAt float64 // last gate refusal, -1 if none active

	epoch     uint32 // bumped on every offline/online change; stale events compare it
	qHead     int32  // uplink FIFO of requests (index into engine.reqs), -1 if empty
	qTail     int32
	cur       int32 // request being sent, -1 if none
	haveCount int32
	cursor    int32 // want order position before which every chunk is held

	recent  [maxHistory]uint32 // advisories received per heartbeat window, newest first
	pendPub uint32             // seeds: advisories to publish once back online
	out     uint16             // want-blocks outstanding (= bits set in inflight)
	mesh    uint16             // mesh size
	infl0   [1]uint64          // chunks asked for, when at most 64 chunks
	ref0    [1]uint64          // chunks the seed's gate refused, likewise
}

// Request states.
const (
	rqFree uint8 = iota
	rqQueued
	rqSending
	rqFlight
	rqFailed
)

// request is one want-block from requester r to sender p.
type request struct {
	issued  float64 // when r sent it
	ready   float64 // when it reaches p
	start   float64 // when p started sending the block
	r, p    int32
	pIdx    int32 // index of p in r's adjacency
	chunk   int32
	next    int32 // next in p's FIFO, or in the free list
	epoch   uint32
	gen     uint32 // bumped when freed; events carry it
	state   uint8
	orphan  bool // timed out and re-asked elsewhere: no longer holds the in-flight slot
	offered bool // swarm: asked because the uploader offered the piece (served first, never BUSY)
}

type view struct {
	q int32
	j int32
}

type engine struct {
	s      *scenario.Scenario
	g      *scenario.Graph
	opt    Options
	rng    *rand.Rand
	q      eventHeap
	timers timerWheel

	now, horizon float64
	end          float64 // simulated time the run covered
	lastDone     float64

	n, k, words int
	file, chunk int64
	nAdv        int
	advInterval float64
	advBytes    float64

	kind []uint8
	cls  []uint8
	up   [3]float64
	down [3]float64
	lat  [3][3]float64
	jit  [3][3]float64
	loss [3][3]float64

	adjOff []int32
	adj    []int32
	eflag  []uint8
	ewma   []float32 // per directed edge: requester's EWMA of that peer's block latency

	st        []nodeState
	have      []uint64
	inflight  []uint64
	refused   []uint64
	full      []uint64
	perm      []uint16
	starved   []uint64 // bitset over nodes
	hbPhase   []float32
	syncPhase []float32
	advAt     []float64
	ctlDown   []float64 // small-message downlink busy until, per node
	patchAt   []float64

	reqs    []request
	freeReq int32
	gates   []gate

	// Swarm mode (Options.Swarm): each fetching device's scheduler, and
	// each seed's reveal and its view of each neighbour.
	sw       []*swarm.Scheduler
	swWaits  swarm.Waits // of honest devices' schedulers dropped when they went offline
	swReveal []*swarm.Reveal
	swSeed   map[swPair]*swSeedView

	pubMask   uint32
	remaining int

	views []view
	vmask []uint64
	union []uint64
	pick  []int32

	seedRecv, peerRecv, dupRecv, rejRecv int64
	seedSent                             int64
	forgedSent, badServed                int64
	series                               series
	events                               uint64
}

// Run simulates s on g (g = scenario.Build(s)) with DefaultOptions and
// returns the result with Engine "model". progress, if not nil, is called
// now and then with the simulated seconds reached and the horizon.
// Every field but WallSeconds is filled; the same scenario gives the same
// result, bit for bit.
func Run(ctx context.Context, s *scenario.Scenario, g *scenario.Graph, progress func(done, total float64)) (*scenario.Result, error) {
	return RunOptions(ctx, s, g, DefaultOptions(), progress)
}

// RunOptions is Run with the model's constants given.
func RunOptions(ctx context.Context, s *scenario.Scenario, g *scenario.Graph, opt Options, progress func(done, total float64)) (*scenario.Result, error) {
	if len(s.Partitions) > 0 {
		return nil, errors.New("model: partitions are simulated by the stack engine only")
	}
	e, err := newEngine(s, g, opt)
	if err != nil {
		return nil, err
	}
	if err := e.run(ctx, progress); err != nil {
		return nil, err
	}
	return e.result()
}

func newEngine(s *scenario.Scenario, g *scenario.Graph, opt Options) (*engine, error) {
	if s == nil || g == nil {
		return nil, errors.New("model: nil scenario or graph")
	}
	if len(g.Adj) != len(g.Nodes) || g.Seeds+g.Devices > len(g.Nodes) || g.Seeds < 1 {
		return nil, errors.New("model: graph does not match its node list")
	}
	opt.normalise()
	e := &engine{s: s, g: g, opt: opt, rng: scenario.NewRand(s.Seed, streamRun), freeReq: -1}
	e.n = len(g.Nodes)
	e.horizon = s.Horizon.Seconds()
	if e.horizon <= 0 {
		return nil, fmt.Errorf("model: horizon %v must be positive", s.Horizon)
	}
	e.file = s.PatchBytes()
	e.chunk = int64(s.Patch.Chunk)
	if e.file > 0 {
		if e.chunk <= 0 {
			return nil, fmt.Errorf("model: chunk size %d", e.chunk)
		}
		k := (e.file + e.chunk - 1) / e.chunk
		if k > MaxChunks || int64(e.n)*k > MaxSlots {
			return nil, fmt.Errorf("%w: %d chunks × %d nodes", ErrTooLarge, k, e.n)
		}
		e.k = int(k)
		e.words = (e.k + 63) / 64
	}
	if e.opt.SwarmConfig.Window <= 0 {
		e.opt.SwarmConfig.Window = swarm.WindowFor(int(e.chunk))
	}
	if e.opt.SwarmConfig.Endgame == 0 {
		e.opt.SwarmConfig.Endgame = swarm.EndgameFor(int(e.chunk))
	}
	e.nAdv = max(1, min(s.Advisories.Count, opt.MaxAdvisories))
	e.advInterval = s.Advisories.Interval.Seconds()
	e.advBytes = float64(opt.AdvisoryBytes)
	e.setupLinks()
	e.setupNodes()
	e.setupMesh()
	e.setupState()
	e.series.init(e.horizon)
	e.timers.init(e.opt.TimeoutMaxSeconds, timerResolution)
	return e, nil
}

func class(r scenario.Role) uint8 {
	switch r {
	case scenario.RoleSeed:
		return 0
	case scenario.RoleGateway:
		return 1
	}
	return 2
}

func (e *engine) setupLinks() {
	links := [3]scenario.Link{e.s.Links.Seed, e.s.Links.Gateway, e.s.Links.Controller}
	for a := range 3 {
		e.up[a], e.down[a] = float64(links[a].Up), float64(links[a].Down)
		for b := range 3 {
			la, lb := links[a], links[b]
			e.lat[a][b] = (la.Latency.Seconds() + lb.Latency.Seconds()) / 2
			e.jit[a][b] = max(la.Jitter.Seconds(), lb.Jitter.Seconds())
			e.loss[a][b] = 1 - (1-clamp01(la.Loss))*(1-clamp01(lb.Loss))
		}
	}
}

func clamp01(x float64) float64 { return min(max(x, 0), 0.99) }

func (e *engine) setupNodes() {
	g := e.g
	e.kind = make([]uint8, e.n)
	e.cls = make([]uint8, e.n)
	for i, nd := range g.Nodes {
		e.cls[i] = class(nd.Role)
		switch {
		case nd.Role == scenario.RoleSeed:
			e.kind[i] = kSeed
		case nd.Role == scenario.RoleSybil:
			e.kind[i] = kSybil
		case nd.Behaviour == scenario.Silent:
			e.kind[i] = kSilent
		case nd.Behaviour == scenario.Forger:
			e.kind[i] = kForger
		case nd.Behaviour == scenario.BadBlocks:
			e.kind[i] = kBad
		default:
			e.kind[i] = kHonest
		}
	}
	// Compressed adjacency: one flat array, in the graph's order.
	e.adjOff = make([]int32, e.n+1)
	total := 0
	for i, a := range g.Adj {
		e.adjOff[i] = int32(total)
		total += len(a)
	}
	e.adjOff[e.n] = int32(total)
	e.adj = make([]int32, 0, total)
	for _, a := range g.Adj {
		e.adj = append(e.adj, a...)
	}
	e.eflag = make([]uint8, total)
	if e.k > 0 && e.opt.WantTimeout {
		e.ewma = make([]float32, total)
	}
}

// edge returns the index of b in a's adjacency, or -1.
func (e *engine) edge(a, b int32) int32 {
	for j := e.adjOff[a]; j < e.adjOff[a+1]; j++ {
		if e.adj[j] == b {
			return j
		}
	}
	return -1
}

// setupMesh builds each node's GossipSub mesh: in a random order, every
// node grafts random neighbours until it has D, skipping those already at
// Dhi. Grafts are symmetric, as GRAFT makes them.
func (e *engine) setupMesh() {
	r := scenario.NewRand(e.s.Seed, streamMesh)
	e.st = make([]nodeState, e.n)
	order := r.Perm(e.n)
	var cands []int32
	for _, v := range order {
		v := int32(v)
		need := e.opt.D - int(e.st[v].mesh)
		if need <= 0 {
			continue
		}
		cands = cands[:0]
		for j := e.adjOff[v]; j < e.adjOff[v+1]; j++ {
			if e.eflag[j]&efMesh == 0 && int(e.st[e.adj[j]].mesh) < e.opt.Dhi {
				cands = append(cands, j)
			}
		}
		for i := 0; i < len(cands) && need > 0; i++ {
			x := i + r.IntN(len(cands)-i)
			cands[i], cands[x] = cands[x], cands[i]
			e.graft(v, cands[i])
			need--
		}
	}
}

func (e *engine) graft(v, j int32) {
	q := e.adj[j]
	e.eflag[j] |= efMesh
	e.st[v].mesh++
	if back := e.edge(q, v); back >= 0 && e.eflag[back]&efMesh == 0 {
		e.eflag[back] |= efMesh
		e.st[q].mesh++
	}
}

func (e *engine) unmesh(v, j int32) {
	if e.eflag[j]&efMesh == 0 {
		return
	}
	e.eflag[j] &^= efMesh
	e.st[v].mesh--
	q := e.adj[j]
	if back := e.edge(q, v); back >= 0 && e.eflag[back]&efMesh != 0 {
		e.eflag[back] &^= efMesh
		e.st[q].mesh--
	}
}

func (e *engine) setupState() {
	r := scenario.NewRand(e.s.Seed, streamSetup)
	n := e.n
	e.advAt = make([]float64, n)
	e.ctlDown = make([]float64, n)
	e.patchAt = make([]float64, n)
	e.hbPhase = make([]float32, n)
	e.syncPhase = make([]float32, n)
	if e.k > 0 {
		w := e.words
		if w > 1 {
			e.have = make([]uint64, n*w)
			e.inflight = make([]uint64, n*w)
			e.refused = make([]uint64, n*w)
		}
		e.full = make([]uint64, w)
		for c := range e.k {
			e.full[c>>6] |= 1 << (c & 63)
		}
		e.perm = make([]uint16, n*e.k)
		e.starved = make([]uint64, (n+63)/64)
		e.union = make([]uint64, w)
	}
	for i := range n {
		st := &e.st[i]
		st.wakeAt = math.Inf(1)
		st.refusedAt = -1
		st.qHead, st.qTail, st.cur, st.lastGot = -1, -1, -1, -1
		st.kind = e.kind[i]
		e.advAt[i], e.patchAt[i] = -1, -1
		e.hbPhase[i] = float32(r.Float64() * e.opt.HeartbeatSeconds)
		e.syncPhase[i] = float32(r.Float64() * e.opt.SyncIntervalSeconds)
		if e.k > 0 && e.fetches(int32(i)) {
			p := e.perm[i*e.k : (i+1)*e.k]
			for c := range p {
				p[c] = uint16(c)
			}
			r.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
		}
	}
	if e.k > 0 && e.s.Patch.Transfer != scenario.TransferBitswap {
		e.sw = make([]*swarm.Scheduler, n)
		e.swReveal = make([]*swarm.Reveal, e.g.Seeds)
		for i := range e.swReveal {
			e.swReveal[i] = swarm.NewReveal(e.k)
		}
		e.swSeed = map[swPair]*swSeedView{}
	}
	if e.k > 0 && e.opt.GateIntervalSeconds > 0 && e.sw == nil {
		e.gates = make([]gate, e.g.Seeds)
		for i := range e.gates {
			e.gates[i] = newGate(e.k)
		}
	}
	// Churn and outages.
	for i := range n {
		id := int32(i)
		st := &e.st[i]
		if !e.g.Online(i, 0) {
			st.flags |= fOff
		}
		for _, iv := range e.g.Nodes[i].Offline {
			if iv.From > 0 && iv.From <= e.horizon {
				e.q.push(iv.From, evOffline, id, 0, 0)
			}
			if iv.To > 0 && iv.To <= e.horizon {
				e.q.push(iv.To, evOnline, id, 0, 0)
			}
		}
		if e.kind[i] == kHonest && e.g.IsDevice(i) && e.nextOnline(id, 0) < e.horizon {
			st.flags |= fCounted
			e.remaining++
		}
		if e.pullsSync(id) {
			st.flags |= fTick
			e.q.push(float64(e.syncPhase[i]), evSyncTick, id, 0, 0)
		}
	}
	// Publications: every seed publishes advisory i at i × interval.
	for i := range e.nAdv {
		for sd := range e.g.Seeds {
			e.q.push(float64(i)*e.advInterval, evPublish, int32(sd), 0, uint32(i))
		}
	}
}

// nextOnline returns the first time at or after t that node n is online.
func (e *engine) nextOnline(n int32, t float64) float64 {
	iv := e.g.Nodes[n].Offline
	for changed := true; changed; {
		changed = false
		for _, x := range iv {
			if t >= x.From && t < x.To {
				t, changed = x.To, true
			}
		}
	}
	return t
}

func (e *engine) fetches(n int32) bool { k := e.kind[n]; return k == kHonest || k == kSilent }
func (e *engine) forwards(n int32) bool {
	k := e.kind[n]
	return k == kSeed || k == kHonest || k == kBad
}
func (e *engine) servesSync(n int32) bool { return e.forwards(n) }
func (e *engine) pullsSync(n int32) bool  { k := e.kind[n]; return k != kSeed && k != kSybil }

// latency is the one-way latency between a and b without jitter.
func (e *engine) latency(a, b int32) float64 { return e.lat[e.cls[a]][e.cls[b]] }

// delay is the time a message from a to b whose sending takes dur seconds
// spends on the way after its last byte left a: latency, jitter, and the
// retransmissions loss costs.
func (e *engine) delay(a, b int32, dur float64) float64 {
	ca, cb := e.cls[a], e.cls[b]
	d := e.lat[ca][cb]
	if j := e.jit[ca][cb]; j > 0 {
		d += float64((2*e.rng.Float64() - 1) * j) // float64(): no fused multiply-add
	}
	if p := e.loss[ca][cb]; p > 0 {
		d += e.lossDelay(p, dur, 2*e.lat[ca][cb])
	}
	return max(d, 0)
}

// lossDelay models loss as retransmission rounds: a transfer of dur
// seconds spans 1 + dur/rtt round trips of packets; each round is lost with
// probability p (and its retransmission again), costing one RTT each time.
// Expected cost: rounds · p/(1−p) · RTT.
func (e *engine) lossDelay(p, dur, rtt float64) float64 {
	if rtt <= 0 {
		return 0
	}
	rounds := 1 + int(min(dur/rtt, 63))
	extra := 0.0
	for range rounds {
		for try := 0; try < 16 && e.rng.Float64() < p; try++ {
			extra += rtt
		}
	}
	return extra
}

func (e *engine) push(t float64, kind uint8, a, b int32, c uint32) {
	e.q.push(max(t, e.now), kind, a, b, c)
}

// finish records that counted device n got everything it waits for at t.
func (e *engine) finish(n int32, t float64) {
	st := &e.st[n]
	if st.flags&fCounted == 0 {
		return
	}
	st.flags &^= fCounted
	e.remaining--
	e.lastDone = max(e.lastDone, t)
}

func (e *engine) run(ctx context.Context, progress func(done, total float64)) error {
	if e.remaining == 0 {
		return nil
	}
	nextReport := 0.0
	for {
		th := math.Inf(1)
		if e.q.len() > 0 {
			th = e.q.peek().t
		}
		tw := e.timers.next()
		if min(th, tw) > e.horizon {
			break
		}
		if tw <= th {
			e.now = tw
			for _, tm := range e.timers.take() {
				e.onTimeout(tm.r, tm.id, tm.gen)
				e.events++
			}
		} else {
			ev := e.q.pop()
			e.now = ev.t
			e.dispatch(&ev)
			e.events++
		}
		if e.remaining == 0 {
			// The last device the run waited for has finished (or left
			// for good); transfers still in flight are not counted.
			e.end = max(e.lastDone, e.now)
			if progress != nil {
				progress(e.end, e.horizon)
			}
			return nil
		}
		if e.events&(1<<14-1) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil && e.now >= nextReport {
				progress(e.now, e.horizon)
				nextReport = e.now + e.horizon/100
			}
		}
	}
	e.end = e.horizon
	if progress != nil {
		progress(e.end, e.horizon)
	}
	return ctx.Err()
}

func (e *engine) dispatch(ev *event) {
	switch ev.kind {
	case evPublish:
		e.publish(ev.a, int(ev.c))
	case evGossip:
		e.onGossip(ev.a, ev.b, ev.c)
	case evIHave:
		e.onIHave(ev.a, ev.b, ev.c)
	case evHeartbeat:
		e.onHeartbeat(ev.a)
	case evSyncTick:
		e.onSyncTick(ev.a)
	case evSyncRecv:
		e.onSyncRecv(ev.a, ev.b, ev.c)
	case evOffline:
		e.onOffline(ev.a)
	case evOnline:
		e.onOnline(ev.a)
	case evWake:
		st := &e.st[ev.a]
		if e.now >= st.wakeAt {
			st.wakeAt = math.Inf(1)
		}
		if e.sw != nil {
			e.swFill(ev.a)
		} else {
			e.fill(ev.a)
		}
	case evSendDone:
		e.onSendDone(ev.a, ev.b, ev.c)
	case evDeliver:
		if e.sw != nil {
			e.swDeliver(ev.a, ev.b, ev.c)
		} else {
			e.onDeliver(ev.a, ev.b, ev.c)
		}
	case evSwBitfield:
		e.onSwBitfield(ev.a, ev.b, ev.c)
	case evSwHave:
		e.onSwHave(ev.a, ev.b, ev.c)
	case evSwRequest:
		e.onSwRequest(ev.a, ev.b, ev.c)
	case evSwBusy:
		e.onSwBusy(ev.a, ev.b, ev.c)
	case evSwOffer:
		e.onSwOffer(ev.a, ev.b, ev.c)
	case evTimeout:
		e.onTimeout(ev.a, ev.b, ev.c)
	case evRefused:
		e.onRefused(ev.a, ev.b, ev.c)
	case evFail:
		if e.sw != nil {
			e.swFail(ev.a, ev.b, ev.c)
		} else {
			e.onFail(ev.a, ev.b, ev.c)
		}
	}
}

// onOffline takes n off the network: its wants are forgotten, the requests
// queued on its uplink fail (their requesters see the connection drop one
// latency later), and it stops gossiping.
func (e *engine) onOffline(n int32) {
	st := &e.st[n]
	if st.flags&fOff != 0 {
		return
	}
	st.flags |= fOff
	st.flags &^= fProbed
	st.epoch++
	if e.sw != nil {
		if e.sw[n] != nil && e.g.HonestDevice(int(n)) {
			e.swWaits = e.swWaits.Add(e.sw[n].Waits())
		}
		e.sw[n] = nil
	}
	st.recent = [maxHistory]uint32{}
	st.wakeAt = math.Inf(1)
	if e.k > 0 {
		_, infl, ref := e.words3(n)
		clear(infl)
		clear(ref)
		st.out = 0
		st.refusedAt = -1
		e.setStarved(n, false)
		failOne := func(id int32) {
			R := &e.reqs[id]
			R.state = rqFailed
			e.push(e.now+e.latency(n, R.r), evFail, R.r, id, R.gen)
		}
		if st.cur >= 0 {
			failOne(st.cur)
		}
		for id := st.qHead; id >= 0; id = e.reqs[id].next {
			failOne(id)
		}
		st.qHead, st.qTail, st.cur, st.qLen = -1, -1, -1, 0
		st.flags &^= fBusy
	}
	if st.flags&fCounted != 0 && e.nextOnline(n, e.now) >= e.horizon {
		st.flags &^= fCounted // gone for good: it cannot finish
		e.remaining--
	}
}

// onOnline brings n back: it reconnects to its neighbours, and the sync
// protocol runs both ways on every new connection (each side pulls what
// the other holds); its wants are sent again.
func (e *engine) onOnline(n int32) {
	st := &e.st[n]
	if st.flags&fOff == 0 || !e.g.Online(int(n), e.now) {
		return
	}
	st.flags &^= fOff | fProbed // new connections: the wants go out again
	st.epoch++
	st.ctlFree = max(st.ctlFree, e.now)
	for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
		q := e.adj[j]
		qs := &e.st[q]
		if qs.flags&fOff != 0 {
			continue
		}
		if e.eflag[j]&efBanned == 0 && e.servesSync(q) && e.pullsSync(n) {
			if d := qs.seen &^ st.seen; d != 0 {
				e.syncTransfer(q, n, d)
			}
		}
		if e.servesSync(n) && e.pullsSync(q) {
			if d := st.seen &^ qs.seen; d != 0 {
				e.syncTransfer(n, q, d)
			}
		}
		if st.kind == kSeed {
			qs.flags &^= fProbed // its session sends its wants to the new connection
		}
		if e.k > 0 && e.isStarved(q) {
			e.wake(q, e.now+e.latency(n, q))
		}
	}
	if st.pendPub != 0 {
		p := st.pendPub
		st.pendPub = 0
		for p != 0 {
			i := bits.TrailingZeros32(p)
			p &^= 1 << i
			e.publish(n, i)
		}
	}
	if e.sw != nil {
		e.swOnline(n)
	} else if st.flags&fFetching != 0 && st.flags&fDone == 0 {
		e.wake(n, e.now+float64(2*e.latency(n, n)))
	}
	if e.pullsSync(n) && st.flags&fTick == 0 && e.pubMask&^st.seen != 0 {
		st.flags |= fTick
		e.push(e.now+e.opt.SyncIntervalSeconds, evSyncTick, n, 0, 0)
	}
}
