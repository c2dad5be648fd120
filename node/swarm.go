package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/content/swarm"
)

// The piece-exchange protocol. The decisions (who to ask for which piece,
// what a seed shows) are content/swarm's; this file moves the frames.
//
// A device fetching a release opens one stream per neighbour and release
// and says HELLO (the root CID and the pieces it holds). The neighbour
// answers with BITFIELD (the pieces it holds, or, for a seed, the few it
// shows; an empty answer if it does not know the release yet), then HAVE
// for every piece it gets later — as soon as the piece's BLOCK begins to
// arrive, not once it is stored (arriving), and not to a neighbour known
// to hold it already (heard). A request for a piece still arriving waits
// until it is verified and stored, and is answered DONT_HAVE if it fails.
// The device sends REQUEST and CANCEL; the neighbour sends BLOCK or
// DONT_HAVE, or BUSY when its upload queue is full (the device asks
// another holder, or asks again a moment later). HAVE and REQUEST carry,
// after the piece number, the sender's count of pieces held: HAVEs skip
// neighbours that hold the piece, so their bitfields undercount those
// behind, and offers go to the neighbours furthest behind. A node's two
// upload slots go to the first block waiting, or to one whose neighbour
// holds swarmBehindMargin pieces fewer (release), and with its queue full a
// request from a neighbour far behind turns away one waiting from a
// neighbour far ahead (makeRoom). With Config.UplinkRate set, a slot comes
// back only when the link has at most one block left to send (written), so
// that this order, rather than the network's fair sharing among
// connections, is the order on the wire.
// A device that has just stored a piece few of its neighbours hold also
// OFFERs it to a couple of the others (swarm.Scheduler.OfferTargets); a
// neighbour that lacks it and has asked no one for it REQUESTs it at once
// (Scheduler.Offered), and that request is served before the queued ones
// and never answered BUSY.
// Before it knows the pieces, a device asks every neighbour for the DAG's
// inner blocks with a HELLO that carries no bitfield; a neighbour answers,
// as soon as it knows the release, with INNER (each inner block as a
// uvarint length and its bytes, breadth first from the root) and then its
// BITFIELD, and the device's fetch carries on on that stream (1.3.0; before,
// it opened a second stream and said HELLO again, a round trip later). The
// BITFIELD comes alone if the inner blocks do not fit in one frame, or if
// the device, having got them elsewhere first, said NO_INNER meanwhile.
// Each frame is a uvarint length, a type byte and the payload; piece
// numbers are uvarints. Every BLOCK is hashed against the piece's
// CID, and every INNER block against the CID its parent or the signed
// root names, before it is stored or announced; a peer that sends a bad
// one is banned at once (over an authenticated connection it is no
// accident) and its stream closed.
const swarmProto = protocol.ID("/tocsin/swarm/1.3.0")

const (
	frHello    = 1
	frBitfield = 2
	frHave     = 3
	frRequest  = 4
	frCancel   = 5
	frBlock    = 6
	frDontHave = 7
	frBusy     = 8
	frInner    = 9
	frOffer    = 10
	frNoInner  = 11
)

const (
	// swarmMaxFrame: the largest frame accepted, a block of the largest
	// chunk size with its header.
	swarmMaxFrame = content.MaxChunkSize + 64
	// swarmMaxQueue: the most requests a neighbour may have queued at us;
	// more is a protocol violation (the scheduler asks for 2, or 8 of a
	// lone neighbour).
	swarmMaxQueue = 64
	// swarmUploadQueue: the most requests the node takes on at once, the
	// one being sent included; more get BUSY. A longer queue ties up
	// requesters' slots at a busy uploader while their other neighbours
	// idle (measured on 100 simulated devices: the last finished at 2.1x
	// the Kumar-Ross bound with no limit, 1.85x with 2).
	swarmUploadQueue = swarmUploads + 1
	// swarmSoloQueue: the queue while the node serves one neighbour only
	// (a lone device asks for swarm.Config.SoloPerPeer at a time).
	swarmSoloQueue = swarm.DefaultSoloPerPeer + 1
	// swarmUploads: blocks being written at once, to all peers together.
	// One would keep each block's transfer short on clean links, but on a
	// lossy link one TCP connection carries a fraction of the link, and
	// the node's upload would be that fraction.
	swarmUploads = 2
	// swarmPaceShare: with Config.UplinkRate set, the share of it that
	// blocks are handed to the transport at; QUIC's headers (1,280-byte
	// packets) and the acknowledgements and HAVEs sent on the same link
	// take about 8% of its bytes. On 300 simulated devices (4 MiB in
	// 16 KiB pieces, 2.5 MB/s links), with an upload queue of six, the
	// last device finished at 2.437-2.468 s with 0.94 (2 runs),
	// 2.438-2.444 s with 0.92 (4), 2.444-2.490 s with 0.90 (2), against
	// 2.476-2.518 s with 0.96 (5), 2.518-2.520 s with 0.88 (2),
	// 2.561-2.566 s with 0.84 (2) and 2.578-2.619 s unpaced (4); with
	// the queue of three (swarmUploadQueue) and 0.92, 2.389-2.428 s (4).
	// Above the link's payload rate the network's queues decide the order
	// again; below it the link idles.
	swarmPaceShare = 0.92
	// swarmBehindMargin: a free upload slot goes to the neighbour furthest
	// behind only if it holds at least this many pieces fewer than the
	// neighbour that asked first (release). Paced at 0.96 with an upload
	// queue of six on 300 simulated devices, the last device finished at
	// 2.476-2.518 s with 8 (5 runs), 2.542 s with 4, 2.515 s with 16, and
	// 2.533-2.549 s strictly furthest behind (2): the devices that hold
	// most, and pass the newest pieces on, then wait behind all others.
	swarmBehindMargin = 8
	// swarmMaxStreams: the most serving streams one peer may hold open.
	swarmMaxStreams = 16
	// swarmMaxUnknown: the most releases we do not know that peers may
	// have asked about at once (each holds a little memory until then).
	swarmMaxUnknown = 64
	// bitfieldSuperSeed: the BITFIELD flag of a seed that shows pieces a
	// few at a time; the device then sends it HAVE for what it gets.
	bitfieldSuperSeed = 1
)

var errSwarmProtocol = errors.New("swarm protocol violation")

// SwarmStats are the piece-exchange byte counters (block payloads).
type SwarmStats struct {
	Sent      int64 `json:"data_sent"`
	Received  int64 `json:"data_received"`
	Duplicate int64 `json:"dup_data"`
	Rejected  int64 `json:"rejected_data"` // blocks that did not hash to their CID
	// Offers: pieces we offered neighbours (swarm.Scheduler.OfferTargets);
	// OffersTaken: those a neighbour then asked for.
	Offers      int64 `json:"offers"`
	OffersTaken int64 `json:"offers_taken"`
	// Early: requests we answered for a piece we had announced as it
	// began to arrive, before it was stored (arriving).
	Early int64 `json:"early_served"`
	// Waits: what held the node's finished or abandoned fetches back,
	// summed (swarm.Waits).
	Waits swarm.Waits `json:"waits"`
}

// swarmSvc is the node's side of the protocol: what it serves and the
// downloads it runs.
type swarmSvc struct {
	n *Node
	// upMu guards the upload slots: upFree of swarmUploads are free, and
	// upWait are the blocks waiting for one (acquire, release).
	upMu     sync.Mutex
	upFree   int
	upWait   []*upWaiter
	pace     float64   // block bytes a second; 0: a slot is free when the write returns
	wireFree time.Time // when the link will have sent the blocks handed to it, at pace
	sent     atomic.Int64
	recv     atomic.Int64
	dup      atomic.Int64
	rejected atomic.Int64
	offers   atomic.Int64
	taken    atomic.Int64
	early    atomic.Int64

	mu     sync.Mutex
	rels   map[cid.Cid]*swarmRel
	nserve map[peer.ID]int
	// serving: len(nserve), read without mu.
	serving atomic.Int32
	recvBy  map[peer.ID]int64 // verified bytes received from each peer
	waits   swarm.Waits       // of the fetches that have returned
	queued  atomic.Int32      // requests waiting for our upload, all streams
	maxQ    int32
	// heldBy: the count of pieces each neighbour last reported holding
	// (its HAVEs and REQUESTs carry it).
	heldBy map[peer.ID]int
	// arrived is closed and replaced (with mu held) when a coming piece is
	// stored or fails.
	arrived chan struct{}
	// asks: swarmInner's streams, by release root, kept for its session.
	asks map[cid.Cid]map[peer.ID]*innerAsk
}

// swarmRel is what the node knows of one release DAG.
type swarmRel struct {
	root   cid.Cid
	pieces []cid.Cid // nil until known
	index  map[cid.Cid]int
	have   swarm.Bitfield
	// coming: pieces whose BLOCK has begun to arrive and that we have
	// announced already (arriving); a request for one waits until it is
	// verified and stored, or fails.
	coming  swarm.Bitfield
	serving map[*swarmServe]struct{}
	sess    *swarmSession
	reveal  *swarm.Reveal // seeds only
	inner   []byte        // the INNER frame's body, once built
}

// servers returns the streams r is served on; called with swarmSvc.mu held.
func (r *swarmRel) servers() []*swarmServe {
	out := make([]*swarmServe, 0, len(r.serving))
	for sv := range r.serving {
		out = append(out, sv)
	}
	return out
}

func newSwarm(n *Node) *swarmSvc {
	s := &swarmSvc{n: n, upFree: swarmUploads, maxQ: swarmUploadQueue, rels: map[cid.Cid]*swarmRel{}, nserve: map[peer.ID]int{}, recvBy: map[peer.ID]int64{}, heldBy: map[peer.ID]int{}, asks: map[cid.Cid]map[peer.ID]*innerAsk{}}
	s.arrived = make(chan struct{})
	if r := n.cfg.uplinkRate(); r > 0 {
		s.pace = swarmPaceShare * float64(r)
	}
	n.host.SetStreamHandler(swarmProto, s.handle)
	return s
}

// SwarmStats returns the piece-exchange counters.
func (n *Node) SwarmStats() SwarmStats {
	if n.swarm == nil {
		return SwarmStats{}
	}
	s := n.swarm
	s.mu.Lock()
	waits := s.waits
	s.mu.Unlock()
	return SwarmStats{Sent: s.sent.Load(), Received: s.recv.Load(), Duplicate: s.dup.Load(), Rejected: s.rejected.Load(),
		Offers: s.offers.Load(), OffersTaken: s.taken.Load(), Early: s.early.Load(), Waits: waits}
}

// rel returns the record for root, creating it; with create false, nil if
// absent. Called with s.mu held.
func (s *swarmSvc) rel(root cid.Cid, create bool) *swarmRel {
	r := s.rels[root]
	if r == nil && create {
		r = &swarmRel{root: root, serving: map[*swarmServe]struct{}{}}
		s.rels[root] = r
	}
	return r
}

// learn sets r's pieces and which of them the store holds. Called with
// s.mu held; has is called under it (a store lookup per piece).
func (s *swarmSvc) learn(r *swarmRel, pieces []cid.Cid, has func(i int) bool) {
	r.pieces = pieces
	r.index = make(map[cid.Cid]int, len(pieces))
	r.have = swarm.NewBitfield(len(pieces))
	r.coming = swarm.NewBitfield(len(pieces))
	for i, c := range pieces {
		r.index[c] = i
		if has(i) {
			r.have.Set(i)
		}
	}
	if s.n.cfg.Role == RoleSeed {
		r.reveal = swarm.NewReveal(len(pieces))
	}
}

// known returns r's pieces, computing them from the store if every
// intermediate block is there (a release fetched or published earlier).
func (s *swarmSvc) known(ctx context.Context, r *swarmRel) bool {
	s.mu.Lock()
	ok := r.pieces != nil
	s.mu.Unlock()
	if ok {
		return true
	}
	// Only releases whose root the store holds: Pieces names a raw-leaf
	// root without reading it, and a peer could otherwise make us keep a
	// record for every CID it cares to name.
	if held, _ := s.n.store.Blocks.Has(ctx, r.root); !held {
		return false
	}
	pieces, err := content.Pieces(ctx, s.n.store.Blocks, r.root)
	if err != nil {
		return false
	}
	held := make([]bool, len(pieces))
	for i, c := range pieces {
		held[i], _ = s.n.store.Blocks.Has(ctx, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.pieces == nil {
		s.learn(r, pieces, func(i int) bool { return held[i] })
	}
	return true
}

// stored records piece i of r as held and tells every neighbour that
// follows r. It reports false if r already held it.
func (s *swarmSvc) stored(r *swarmRel, i int) bool {
	s.mu.Lock()
	if r.have.Has(i) {
		s.mu.Unlock()
		return false
	}
	r.have.Set(i)
	if r.coming.Has(i) {
		r.coming.Clear(i)
		s.signalArrived()
	}
	serving := r.servers() // those told on arrival are not told again
	held := r.have.Count()
	sess := r.sess
	s.mu.Unlock()
	for _, sv := range serving {
		sv.announce(i, held)
	}
	if sess != nil {
		sess.announce(i)
	}
	return true
}

// arriving: piece i's BLOCK has begun to arrive. Its neighbours hear of
// it now rather than once it is verified and stored, so that their
// requests queue here meanwhile (serveOne waits for the piece); that took
// the HAVE and REQUEST round trip out of a fresh piece's hop.
func (s *swarmSvc) arriving(r *swarmRel, i int) {
	s.mu.Lock()
	if r.have == nil || i >= len(r.pieces) || r.have.Has(i) || r.coming.Has(i) {
		s.mu.Unlock()
		return
	}
	r.coming.Set(i)
	serving := r.servers()
	held := r.have.Count()
	s.mu.Unlock()
	for _, sv := range serving {
		sv.announce(i, held)
	}
}

// notComing: piece i's BLOCK, announced on arrival, did not become a
// stored piece (the link failed, or it did not verify or store): requests
// waiting for it are answered DONT_HAVE.
func (s *swarmSvc) notComing(r *swarmRel, i int) {
	s.mu.Lock()
	if r.coming != nil && i < len(r.pieces) && r.coming.Has(i) {
		r.coming.Clear(i)
		s.signalArrived()
	}
	s.mu.Unlock()
}

// signalArrived wakes the requests waiting for coming pieces; called with
// s.mu held.
func (s *swarmSvc) signalArrived() {
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// fetched: every block of root's DAG is now in the store (a fetch by
// bitswap, an import, a publication). Neighbours waiting to hear about it
// get their bitfield; those already greeted hear of each new piece.
func (s *swarmSvc) fetched(ctx context.Context, root cid.Cid) {
	s.mu.Lock()
	r := s.rels[root]
	s.mu.Unlock()
	if r == nil || !s.known(ctx, r) {
		return
	}
	s.mu.Lock()
	pieces := r.pieces
	waiting := r.servers()
	s.mu.Unlock()
	for _, sv := range waiting {
		sv.greet()
	}
	for i, c := range pieces {
		if ok, _ := s.n.store.Blocks.Has(ctx, c); ok {
			s.stored(r, i)
		}
	}
}

// ---- serving side ----

// swarmServe is one stream on which a neighbour fetches from us.
type swarmServe struct {
	svc  *swarmSvc
	rel  *swarmRel
	peer peer.ID
	st   network.Stream

	mu      sync.Mutex
	cond    *sync.Cond
	ctrl    [][]byte
	queue   []int
	closed  bool
	greeted bool           // BITFIELD sent
	peerHas []byte         // its HELLO bitfield, parsed once pieces are known
	inner   bool           // it asked for the inner blocks too (a HELLO with no bitfield)
	has     swarm.Bitfield // what it holds, as far as we know
	told    swarm.Bitfield // pieces we have told it we hold (BITFIELD, HAVE)
	offered swarm.Bitfield // pieces offered to it and not yet asked for
	shown   swarm.Bitfield // seed: pieces shown to it
	kick    chan struct{}  // a control frame is waiting
}

// flushCtrl writes the waiting control frames; false if the stream failed.
func (sv *swarmServe) flushCtrl() bool {
	sv.mu.Lock()
	ctrl := sv.ctrl
	sv.ctrl = nil
	sv.mu.Unlock()
	if len(ctrl) > 0 {
		if _, err := sv.st.Write(bytes.Join(ctrl, nil)); err != nil { // one write: as few packets as fit
			sv.close()
			return false
		}
	}
	return true
}

// queued adds a control frame; called with sv.mu held.
func (sv *swarmServe) queued(f []byte) {
	sv.ctrl = append(sv.ctrl, f)
	sv.cond.Broadcast()
	select {
	case sv.kick <- struct{}{}:
	default:
	}
}

func (s *swarmSvc) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	s.mu.Lock()
	if s.nserve[p] >= swarmMaxStreams {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.nserve[p]++
	s.serving.Store(int32(len(s.nserve)))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.nserve[p]--; s.nserve[p] <= 0 {
			delete(s.nserve, p)
			delete(s.heldBy, p)
		}
		s.serving.Store(int32(len(s.nserve)))
		s.mu.Unlock()
	}()
	br := bufio.NewReader(st)
	typ, body, err := readFrame(br, 1<<16)
	if err != nil || typ != frHello {
		_ = st.Reset()
		return
	}
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)-k) {
		_ = st.Reset()
		return
	}
	root, err := cid.Cast(body[k : k+int(n)])
	if err != nil {
		_ = st.Reset()
		return
	}
	sv := &swarmServe{svc: s, peer: p, st: st, peerHas: body[k+int(n):], inner: len(body) == k+int(n), kick: make(chan struct{}, 1)}
	sv.cond = sync.NewCond(&sv.mu)
	s.mu.Lock()
	r := s.rel(root, false)
	if r == nil {
		unknown := 0
		for _, x := range s.rels {
			if x.pieces == nil {
				unknown++
			}
		}
		if unknown >= swarmMaxUnknown {
			s.mu.Unlock()
			_ = st.Reset()
			return
		}
		r = s.rel(root, true)
	}
	sv.rel = r
	r.serving[sv] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(r.serving, sv)
		if len(r.serving) == 0 && r.pieces == nil && r.sess == nil {
			delete(s.rels, root)
		}
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(s.n.ctx)
	defer cancel()
	go sv.writeLoop(ctx)
	defer sv.close()
	if s.known(ctx, r) {
		sv.greet()
	}
	for {
		typ, body, err := readFrame(br, 64)
		if err != nil {
			return
		}
		if typ == frNoInner {
			sv.mu.Lock()
			sv.inner = false // too late if greeted: INNER is on its way
			sv.mu.Unlock()
			continue
		}
		i, held, ok := pieceHeld(body)
		if !ok || held >= 0 && typ != frHave && typ != frRequest {
			return
		}
		if held >= 0 {
			s.noteHeld(p, held)
		}
		switch typ {
		case frHave:
			sv.peerGot(i)
		case frRequest:
			s.makeRoom(sv, i)
			if !sv.request(i) {
				return
			}
		case frCancel:
			sv.cancel(i)
		default:
			return
		}
	}
}

// greet sends the BITFIELD once the pieces are known. For a seed it shows
// a few pieces (swarm.Reveal); otherwise every piece held.
func (sv *swarmServe) greet() {
	s := sv.svc
	sv.mu.Lock()
	wantInner := sv.inner
	sv.mu.Unlock()
	var inner []byte
	if wantInner {
		inner = s.innerFrame(sv.rel)
	}
	s.mu.Lock()
	r := sv.rel
	k := len(r.pieces)
	sv.mu.Lock()
	if sv.greeted || sv.closed {
		sv.mu.Unlock()
		s.mu.Unlock()
		return
	}
	if !sv.inner {
		inner = nil // NO_INNER came meanwhile
	}
	sv.greeted = true
	has, err := swarm.ParseBitfield(sv.peerHas, k)
	if err != nil {
		has = swarm.NewBitfield(k)
	}
	sv.has = has
	sv.offered = swarm.NewBitfield(k)
	if inner != nil {
		// It does not know the release yet: the inner blocks first, then
		// the BITFIELD on the same stream, which its fetch carries on
		// with (innerAsk) — a round trip sooner than a second HELLO.
		sv.queued(frame(frInner, inner))
	}
	var show swarm.Bitfield
	flags := byte(0)
	if r.reveal != nil {
		flags = bitfieldSuperSeed
		sv.shown = swarm.NewBitfield(k)
		ex := has.Clone()
		for i := 0; i < k; i++ {
			if !r.have.Has(i) {
				ex.Set(i)
			}
		}
		for _, i := range r.reveal.Pick(ex, s.revealWindow(r), nil) {
			sv.shown.Set(i)
		}
		show = sv.shown
	} else {
		show = r.have.Clone()
		sv.told = show.Clone()
	}
	sv.queued(frame(frBitfield, append([]byte{flags}, show.Bytes(k)...)))
	sv.mu.Unlock()
	s.mu.Unlock()
}

// innerFrame returns the body of r's INNER frame — its inner blocks
// (content.InnerBlocks), each as a uvarint length and its bytes — built
// once; nil if the store lacks them or they do not fit in a frame.
func (s *swarmSvc) innerFrame(r *swarmRel) []byte {
	s.mu.Lock()
	body := r.inner
	s.mu.Unlock()
	if body != nil {
		return body
	}
	bs, err := content.InnerBlocks(s.n.ctx, s.n.store.Blocks, r.root)
	if err != nil {
		return nil
	}
	for _, b := range bs {
		body = binary.AppendUvarint(body, uint64(len(b.RawData())))
		body = append(body, b.RawData()...)
		if len(body) >= swarmMaxFrame {
			return nil
		}
	}
	s.mu.Lock()
	r.inner = body
	s.mu.Unlock()
	return body
}

// announce tells the neighbour we now hold piece i (not for seeds, which
// show pieces through reveal).
func (sv *swarmServe) announce(i, held int) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if !sv.greeted || sv.closed || sv.shown != nil || sv.told == nil || sv.has.Has(i) || sv.told.Has(i) {
		if !sv.greeted && !sv.closed {
			go sv.greet() // pieces just became known
		}
		return
	}
	sv.told.Set(i)
	sv.queued(frame(frHave, append(uvarint(i), uvarint(held)...)))
}

// peerGot: the neighbour says it holds piece i. A seed shows it another
// piece if fewer than swarm.RevealWindow shown ones are still unsent.
func (sv *swarmServe) peerGot(i int) {
	sv.svc.mu.Lock()
	defer sv.svc.mu.Unlock()
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if !sv.greeted || i >= len(sv.rel.pieces) {
		return
	}
	sv.has.Set(i)
	sv.offered.Clear(i)
	sv.topUp()
}

// heard: our fetch learned that neighbour p holds pieces (its HAVE or
// BITFIELD on our link to it, or a block it sent us). The streams on which
// we serve p record it, so that they do not announce those pieces to p:
// a HAVE for a piece it holds tells it nothing, and HAVEs (each in a small
// packet of its own, which p acknowledges) took a few percent of devices'
// uplinks.
// A HAVE also carries p's count of pieces held (count; -1 if none).
func (s *swarmSvc) heard(r *swarmRel, p peer.ID, count int, pieces ...int) {
	s.mu.Lock()
	if count >= 0 {
		s.heldBy[p] = count
	}
	var svs []*swarmServe
	for sv := range r.serving {
		if sv.peer == p {
			svs = append(svs, sv)
		}
	}
	s.mu.Unlock()
	for _, sv := range svs {
		sv.mu.Lock()
		if sv.greeted && sv.shown == nil {
			for _, i := range pieces {
				if i < len(sv.rel.pieces) {
					sv.has.Set(i)
					sv.offered.Clear(i)
				}
			}
		}
		sv.mu.Unlock()
	}
}

// offer offers the neighbour piece i, which we hold; false if this
// stream cannot (not greeted yet, closed, a seed's, or it holds i).
func (sv *swarmServe) offer(i int) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if !sv.greeted || sv.closed || sv.shown != nil || i >= len(sv.rel.pieces) || sv.has.Has(i) {
		return false
	}
	sv.offered.Set(i)
	sv.queued(frame(frOffer, uvarint(i)))
	sv.svc.offers.Add(1)
	return true
}

// revealWindow: swarm.RevealWindow for the neighbours r could be served to
// — those it is served to, or all connected peers if more (a fleet's
// streams open one by one; the first is not alone). Called with s.mu held.
func (s *swarmSvc) revealWindow(r *swarmRel) int {
	n := len(r.serving)
	if n <= 1 { // only then can the count of peers matter (it is not free on a seed with thousands)
		n = max(n, len(s.n.host.Network().Peers()))
	}
	return swarm.RevealWindow(n)
}

// topUp: seed only; called with svc.mu and sv.mu held.
func (sv *swarmServe) topUp() {
	r := sv.rel
	if r.reveal == nil || sv.shown == nil {
		return
	}
	k := len(r.pieces)
	pending := 0
	ex := sv.has.Clone()
	for i := 0; i < k; i++ {
		if sv.shown.Has(i) {
			ex.Set(i)
			if !sv.has.Has(i) {
				pending++
			}
		} else if !r.have.Has(i) {
			ex.Set(i)
		}
	}
	for _, i := range r.reveal.Pick(ex, sv.svc.revealWindow(r)-pending, nil) {
		sv.shown.Set(i)
		sv.queued(frame(frHave, uvarint(i)))
	}
}

// request queues piece i; false ends the stream (a violation).
func (sv *swarmServe) request(i int) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if !sv.greeted || i >= len(sv.rel.pieces) || len(sv.queue) >= swarmMaxQueue {
		return false
	}
	// A piece we offered goes first, whatever the queue. Otherwise one
	// neighbour served in all may queue as deep as a lone device asks
	// (swarm.Config.SoloPerPeer): there is nobody to keep waiting.
	offered := sv.offered.Has(i)
	if q := sv.svc.queued.Add(1); !offered && q > sv.svc.maxQ && (q > swarmSoloQueue || sv.svc.serving.Load() > 1) {
		sv.svc.queued.Add(-1)
		sv.queued(frame(frBusy, uvarint(i)))
		return true
	}
	if offered {
		sv.offered.Clear(i)
		sv.svc.taken.Add(1)
		sv.queue = slices.Insert(sv.queue, 0, i)
	} else {
		sv.queue = append(sv.queue, i)
	}
	sv.cond.Broadcast()
	return true
}

// roomMargin: how many more pieces than a requester a neighbour must hold
// for its waiting request to make room (makeRoom).
const roomMargin = 4

// makeRoom: our upload queue is full, and neighbour sv, which asks for a
// piece, holds fewer pieces than a neighbour with a request waiting here:
// that request is answered BUSY instead (its sender asks elsewhere, or here
// again a moment later), so those behind are not turned away by those
// ahead. With requests served in turn, a device with four or five
// neighbours got a smaller share of each and finished last.
func (s *swarmSvc) makeRoom(sv *swarmServe, i int) {
	if s.queued.Load() < s.maxQ {
		return
	}
	sv.mu.Lock()
	offered := sv.offered != nil && i < len(sv.rel.pieces) && sv.offered.Has(i)
	sv.mu.Unlock()
	if offered {
		return // an offered piece is served whatever the queue
	}
	mine := sv.held()
	s.mu.Lock()
	svs := sv.rel.servers()
	s.mu.Unlock()
	var victim *swarmServe
	most := mine + roomMargin
	for _, o := range svs {
		if o == sv {
			continue
		}
		o.mu.Lock()
		q := len(o.queue)
		o.mu.Unlock()
		if n := o.held(); q > 0 && n > most {
			victim, most = o, n
		}
	}
	if victim == nil {
		return
	}
	victim.mu.Lock()
	if j := len(victim.queue) - 1; j >= 0 && !victim.closed {
		i := victim.queue[j]
		victim.queue = victim.queue[:j]
		s.queued.Add(-1)
		victim.queued(frame(frBusy, uvarint(i)))
	}
	victim.mu.Unlock()
}

func (sv *swarmServe) cancel(i int) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for j, q := range sv.queue {
		if q == i {
			sv.queue = append(sv.queue[:j], sv.queue[j+1:]...)
			sv.svc.queued.Add(-1)
			return
		}
	}
}

func (sv *swarmServe) close() {
	sv.mu.Lock()
	if !sv.closed {
		sv.svc.queued.Add(-int32(len(sv.queue)))
		sv.queue = nil
	}
	sv.closed = true
	sv.cond.Broadcast()
	sv.mu.Unlock()
	_ = sv.st.Reset()
}

// writeLoop sends control frames first, then the queued blocks in order,
// one block at a time across all streams (the node's upload), read through
// the upload-rate throttle.
func (sv *swarmServe) writeLoop(ctx context.Context) {
	for {
		sv.mu.Lock()
		for !sv.closed && len(sv.ctrl) == 0 && len(sv.queue) == 0 {
			sv.cond.Wait()
		}
		if sv.closed {
			sv.mu.Unlock()
			return
		}
		ctrl := sv.ctrl
		sv.ctrl = nil
		i := -1
		if len(ctrl) == 0 {
			i = sv.queue[0]
			sv.queue = sv.queue[1:]
		}
		sv.mu.Unlock()
		if len(ctrl) > 0 {
			if _, err := sv.st.Write(bytes.Join(ctrl, nil)); err != nil { // one write: as few packets as fit
				sv.close()
				return
			}
		}
		if i < 0 {
			continue
		}
		if !sv.serveOne(ctx, i) {
			return
		}
	}
}

// serveOne sends piece i (or DONT_HAVE); false if the stream is done. The
// request counts against the upload queue until it has been sent.
func (sv *swarmServe) serveOne(ctx context.Context, i int) bool {
	s := sv.svc
	defer s.queued.Add(-1)
	s.mu.Lock()
	// A piece announced as it began to arrive: wait for it, sending
	// control frames meanwhile.
	waited := false
	for !sv.rel.have.Has(i) && sv.rel.coming.Has(i) {
		waited = true
		ch := s.arrived
		s.mu.Unlock()
		select {
		case <-ch:
		case <-sv.kick:
			if !sv.flushCtrl() {
				return false
			}
		case <-ctx.Done():
			return false
		}
		s.mu.Lock()
	}
	c, held := sv.rel.pieces[i], sv.rel.have.Has(i)
	s.mu.Unlock()
	if waited && held {
		s.early.Add(1)
	}
	var data []byte
	var err error
	if held {
		// Read into a recycled buffer: a seed serving at link speed
		// otherwise allocates its whole upload again.
		buf, _ := blockBufs.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
		var owned bool
		data, owned, err = content.GetInto(ctx, s.n.served, c, (*buf)[:0])
		defer func() {
			if owned { // data is ours alone: its array is the buffer now
				*buf = data[:0]
			}
			blockBufs.Put(buf)
		}()
	}
	if !held || err != nil {
		if ctx.Err() != nil {
			return false
		}
		if _, err := sv.st.Write(frame(frDontHave, uvarint(i))); err != nil {
			sv.close()
			return false
		}
		return true
	}
	// Wait for the upload, sending control frames (HAVEs) meanwhile:
	// a neighbour must hear of new pieces while our upload is busy.
	grant := s.acquire(sv)
	for acquired := false; !acquired; {
		select {
		case <-grant.ch:
			acquired = true
		case <-sv.kick:
			if !sv.flushCtrl() {
				s.abandon(grant)
				return false
			}
		case <-ctx.Done():
			s.abandon(grant)
			return false
		}
	}
	_, err = sv.writeBlock(i, data)
	s.written(len(data))
	if err != nil {
		sv.close()
		return false
	}
	s.sent.Add(int64(len(data)))
	s.mu.Lock()
	sv.mu.Lock()
	if sv.has != nil {
		sv.has.Set(i)
		sv.topUp()
	}
	sv.mu.Unlock()
	s.mu.Unlock()
	return true
}

// upWaiter is a block waiting for an upload slot; ch is closed when it
// gets one.
type upWaiter struct {
	sv *swarmServe
	ch chan struct{}
}

// acquire asks for an upload slot for a block to sv's neighbour.
func (s *swarmSvc) acquire(sv *swarmServe) *upWaiter {
	w := &upWaiter{sv: sv, ch: make(chan struct{})}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.upFree > 0 {
		s.upFree--
		close(w.ch)
		return w
	}
	s.upWait = append(s.upWait, w)
	return w
}

// release frees an upload slot: it goes to the waiting block whose
// neighbour holds the fewest pieces, as far as we know, if that is at
// least swarmBehindMargin fewer than the first to ask holds; else to the
// first to ask. Served in turn, a neighbour's share of our upload was one
// over the number of neighbours asking, so a device with few neighbours
// got less from each of them and finished last (on 300 stack devices the
// slowest were those with four or five); the most deprived first lets
// the devices behind catch up.
func (s *swarmSvc) release() {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if len(s.upWait) == 0 {
		s.upFree++
		return
	}
	best, least, first := 0, int(^uint(0)>>1), 0
	for j, w := range s.upWait {
		n := w.sv.held()
		if j == 0 {
			first = n
		}
		if n < least {
			best, least = j, n
		}
	}
	if first-least < swarmBehindMargin {
		best = 0 // not far enough behind to go before the first to ask
	}
	w := s.upWait[best]
	s.upWait = slices.Delete(s.upWait, best, best+1)
	close(w.ch)
}

// written frees the slot of a block of size bytes just handed to the
// transport: at once unpaced, else once the link has at most one block
// left to send (paceHold).
func (s *swarmSvc) written(size int) {
	if s.pace <= 0 {
		s.release()
		return
	}
	s.upMu.Lock()
	var hold time.Duration
	s.wireFree, hold = paceHold(time.Now(), s.wireFree, size, s.pace)
	s.upMu.Unlock()
	if hold <= 0 {
		s.release()
		return
	}
	time.AfterFunc(hold, s.release)
}

// paceHold: a block of size bytes is handed to a link at now that sends
// rate bytes a second and is busy until wireFree. It returns when the link
// will have sent it, and how long the block's upload slot stays held: until
// the link has one block left to send. The next block is chosen then, so
// the order in which the uploader grants its slots is, within a block,
// the order on the wire.
func paceHold(now, wireFree time.Time, size int, rate float64) (time.Time, time.Duration) {
	d := time.Duration(float64(size) / rate * float64(time.Second))
	if wireFree.Before(now) {
		wireFree = now
	}
	wireFree = wireFree.Add(d)
	return wireFree, wireFree.Sub(now) - d
}

// abandon gives up w's slot, granted or not.
func (s *swarmSvc) abandon(w *upWaiter) {
	s.upMu.Lock()
	if j := slices.Index(s.upWait, w); j >= 0 {
		s.upWait = slices.Delete(s.upWait, j, j+1)
		s.upMu.Unlock()
		return
	}
	s.upMu.Unlock()
	s.release()
}

// held is how many pieces the neighbour holds, as far as we know: what it
// reported (its HAVEs and REQUESTs carry its count) or what we know it
// holds, whichever is more — so a neighbour that under-reports to be
// served first is not behind for longer than the pieces it has from us.
func (sv *swarmServe) held() int {
	s := sv.svc
	s.mu.Lock()
	n := s.heldBy[sv.peer]
	s.mu.Unlock()
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return max(n, sv.has.Count())
}

// writeBlock sends a BLOCK frame: its header, then the block's bytes as
// they are (no copy of a block-sized frame).
func (sv *swarmServe) writeBlock(i int, data []byte) (int, error) {
	hdr := binary.AppendUvarint(nil, uint64(len(data)+1+uvarintLen(i)))
	hdr = append(hdr, frBlock)
	hdr = binary.AppendUvarint(hdr, uint64(i))
	if _, err := sv.st.Write(hdr); err != nil {
		return 0, err
	}
	return sv.st.Write(data)
}

func uvarintLen(i int) int { return len(binary.AppendUvarint(nil, uint64(i))) }

// ---- fetching side ----

// swarmSession is one download of one release's pieces.
type swarmSession struct {
	svc   *swarmSvc
	rel   *swarmRel
	ev    chan swarmEvent
	work  chan swarmBlock
	sink  pieceSink // if set, is given every verified piece first
	mu    sync.Mutex
	links map[peer.ID]*swarmLink
}

// swarmLink is our stream to one neighbour for the session.
type swarmLink struct {
	id        int32
	peer      peer.ID
	st        network.Stream // set by run before any frame is read
	out       chan []byte
	cancel    context.CancelFunc
	superSeed atomic.Bool
}

type swarmEvent struct {
	link  *swarmLink
	kind  byte // a frame type, or evGone / evPeer
	piece int
	bf    swarm.Bitfield
	fresh bool
	size  int
	p     peer.ID
	cids  []cid.Cid
}

const (
	evGone = 100 + iota
	evPeer
	evStored
	evRound   // a bitswap round ended; cids arrived by it
	evArrived // a block is off the wire, being verified
)

// announce tells super-seeding neighbours we got piece i.
func (ss *swarmSession) announce(i int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, l := range ss.links {
		if l.superSeed.Load() {
			l.send(frame(frHave, uvarint(i)))
		}
	}
}

// offer offers piece i to the neighbours behind the links with ids, on
// the streams on which they fetch from us.
func (ss *swarmSession) offer(i int, ids []int32) {
	if len(ids) == 0 {
		return
	}
	var to []peer.ID
	for _, id := range ids {
		if l := ss.link(id); l != nil {
			to = append(to, l.peer)
		}
	}
	s := ss.svc
	s.mu.Lock()
	var svs []*swarmServe
	for sv := range ss.rel.serving {
		if slices.Contains(to, sv.peer) {
			svs = append(svs, sv)
		}
	}
	s.mu.Unlock()
	for _, sv := range svs {
		sv.offer(i)
	}
}

func (l *swarmLink) send(f []byte) {
	select {
	case l.out <- f:
	default:
		l.cancel() // it cannot keep up with a few bytes of control: drop it
	}
}

// swarmFetch fetches the pieces of root's DAG in want (the CIDs of its
// leaf level that the store lacks) from neighbours that speak the
// protocol, with a bitswap round whenever none arrives for the stall
// timeout, until all are in. If another fetch of the same DAG holds the
// swarm session, it returns want untouched for bitswap.
func (n *Node) swarmFetch(ctx context.Context, root cid.Cid, level, want []cid.Cid, chunk int, got func(size int) error, sink pieceSink) ([]cid.Cid, error) {
	s := n.swarm
	pieces := content.UniqueCIDs(level)
	missing := make(map[cid.Cid]bool, len(want))
	for _, c := range want {
		missing[c] = true
	}
	s.mu.Lock()
	r := s.rel(root, true)
	if r.pieces == nil || len(r.pieces) != len(pieces) {
		s.learn(r, pieces, func(i int) bool { return !missing[pieces[i]] })
	} else {
		for i, c := range pieces { // the store is the truth: a repaired block is missing again
			if missing[c] {
				r.have.Clear(i)
			} else {
				r.have.Set(i)
			}
		}
	}
	if r.sess != nil {
		s.mu.Unlock()
		return want, nil // another fetch of the same DAG runs (a delta and its release): bitswap
	}
	sess := &swarmSession{svc: s, rel: r, ev: make(chan swarmEvent, 256), work: make(chan swarmBlock, swarmWorkers), sink: sink, links: map[peer.ID]*swarmLink{}}
	r.sess = sess
	have := r.have.Clone()
	waiting := r.servers()
	s.mu.Unlock()
	// The streams that asked for the inner blocks become the links to
	// those neighbours — unless we hold pieces already, which their HELLO
	// did not say.
	asks := s.takeAsks(root)
	if have.Count() > 0 {
		dropAsks(asks)
		asks = nil
	}
	defer func() { dropAsks(asks) }() // those of peers never dialled
	for _, sv := range waiting {
		sv.greet()
	}
	sctx, cancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for range swarmWorkers {
		workers.Go(func() { sess.worker(sctx) })
	}
	defer func() {
		cancel()
		workers.Wait() // no sink call after we return
		sess.mu.Lock()
		s.mu.Lock()
		r.sess = nil
		for p := range sess.links {
			s.forgetHeld(p)
		}
		s.mu.Unlock()
		sess.mu.Unlock()
	}()
	sched := swarm.NewScheduler(len(pieces), have, swarm.ConfigFor(chunk), n.rngFork())
	defer func() {
		s.mu.Lock()
		s.waits = s.waits.Add(sched.Waits())
		s.mu.Unlock()
	}()
	hello := append(uvarint(len(root.Bytes())), root.Bytes()...)
	hello = append(hello, have.Bytes(len(pieces))...)
	notify := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		select {
		case sess.ev <- swarmEvent{kind: evPeer, p: c.RemotePeer()}:
		default:
		}
	}}
	n.host.Network().Notify(notify)
	defer n.host.Network().StopNotify(notify)
	var nextID int32
	dial := func(p peer.ID) {
		sess.mu.Lock()
		if _, ok := sess.links[p]; ok || p == n.host.ID() {
			sess.mu.Unlock()
			return
		}
		lctx, lcancel := context.WithCancel(sctx)
		l := &swarmLink{id: nextID, peer: p, out: make(chan []byte, 512), cancel: lcancel}
		nextID++
		sess.links[p] = l
		sess.mu.Unlock()
		a := asks[p]
		delete(asks, p)
		go sess.run(lctx, l, hello, len(pieces), a)
	}
	for _, p := range n.host.Network().Peers() {
		dial(p)
	}
	lastFresh, rounding := time.Now(), false
	tick := time.NewTimer(n.stallTimeout / 8)
	defer tick.Stop()
	issue := func() {
		now := time.Now()
		for _, x := range sched.Expire(now) {
			if l := sess.link(x.Peer); l != nil {
				l.send(frame(frCancel, uvarint(x.Piece)))
			}
		}
		for _, x := range sched.Next(now) {
			if l := sess.link(x.Peer); l != nil {
				l.send(frame(frRequest, append(uvarint(x.Piece), uvarint(sched.Held())...)))
			}
		}
		d := n.stallTimeout / 8
		if at, ok := sched.NextEvent(now); ok {
			d = min(d, max(at.Sub(now), time.Millisecond))
		}
		tick.Reset(d)
	}
	for !sched.Done() {
		select {
		case e := <-sess.ev:
			switch e.kind {
			case evPeer:
				dial(e.p)
				continue
			case evGone:
				sched.RemovePeer(e.link.id)
				sess.mu.Lock()
				if sess.links[e.link.peer] == e.link {
					delete(sess.links, e.link.peer)
				}
				sess.mu.Unlock()
				s.mu.Lock()
				s.forgetHeld(e.link.peer)
				s.mu.Unlock()
			case frBitfield:
				sched.SetNeighbours(len(n.host.Network().Peers()))
				sched.SetSeed(e.link.id, e.link.superSeed.Load())
				sched.SetHave(e.link.id, e.bf)
			case frHave:
				sched.Announce(e.link.id, e.piece)
			case frOffer:
				if sched.Offered(e.link.id, e.piece, time.Now()) {
					e.link.send(frame(frRequest, append(uvarint(e.piece), uvarint(sched.Held())...)))
				}
			case frDontHave:
				sched.Refused(e.link.id, e.piece)
			case frBusy:
				sched.Busy(e.link.id, e.piece, time.Now())
			case evArrived:
				sched.Arrived(e.link.id, e.piece)
			case evRound:
				rounding = false
				for _, c := range e.cids {
					s.mu.Lock()
					i, ok := r.index[c]
					s.mu.Unlock()
					if !ok {
						continue
					}
					s.stored(r, i)
					if fresh, _ := sched.Received(-1, i); fresh {
						lastFresh = time.Now()
						delete(missing, c)
						size, _ := n.store.Blocks.GetSize(ctx, c)
						if err := got(size); err != nil {
							return nil, err
						}
					}
				}
			case evStored:
				fresh, cancels := sched.Received(e.link.id, e.piece)
				for _, x := range cancels {
					if l := sess.link(x.Peer); l != nil {
						l.send(frame(frCancel, uvarint(x.Piece)))
					}
				}
				if fresh {
					sess.mu.Lock()
					s.mu.Lock()
					for _, l := range sess.links {
						if n, ok := s.heldBy[l.peer]; ok {
							sched.SetHeld(l.id, n)
						}
					}
					s.mu.Unlock()
					sess.mu.Unlock()
					sess.offer(e.piece, sched.OfferTargets(e.piece))
					lastFresh = time.Now()
					delete(missing, pieces[e.piece])
					if err := got(e.size); err != nil {
						return nil, err
					}
				}
			}
			issue()
		case <-tick.C:
			if time.Since(lastFresh) >= n.stallTimeout && !rounding {
				// Stalled: no neighbour that speaks the protocol has
				// what is missing, or its links are slow or broken.
				// Links stay up (a slow block is still coming), peers
				// without one are dialled again, and one bitswap round
				// asks everyone, stock IPFS nodes included.
				rounding, lastFresh = true, time.Now()
				for _, p := range n.host.Network().Peers() {
					dial(p)
				}
				var list []cid.Cid
				for _, c := range want {
					if missing[c] {
						list = append(list, c)
					}
				}
				go func() {
					left, _ := n.getRound(sctx, list, func(int) error { return nil })
					still := make(map[cid.Cid]bool, len(left))
					for _, c := range left {
						still[c] = true
					}
					var arrived []cid.Cid
					for _, c := range list {
						if !still[c] {
							arrived = append(arrived, c)
						}
					}
					select {
					case sess.ev <- swarmEvent{kind: evRound, cids: arrived}:
					case <-sctx.Done():
					}
				}()
			}
			issue()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// swarmInner asks every connected neighbour for the inner blocks of
// root's DAG — a HELLO with no bitfield, which a neighbour answers with an
// INNER frame as soon as it knows the release itself — and stores the
// first set that checks out against root. Without it every device first
// fetched the root by bitswap, whose sessions sent their want-block long
// after the seed's HAVE had arrived, the longer the bigger the fleet: on
// 300 and 1,000 simulated devices the leaves started 0.3 s and 1 s after
// the manifest, even next to the seed (30 ms with INNER). It reports the
// blocks it stored (none if it gave up after wait; bitswap then fetches
// them). The neighbour follows INNER with its BITFIELD, so the streams
// stay open for the fetch's session to carry on with (innerAsk,
// swarmSvc.takeAsks); those that have not answered when the blocks are in
// are told NO_INNER, and answer with the BITFIELD alone. The caller drops
// what the session did not take (dropAsks).
func (n *Node) swarmInner(ctx context.Context, root cid.Cid, wait time.Duration) []blocks.Block {
	type inner struct {
		from peer.ID
		bs   []blocks.Block
	}
	got := make(chan inner, 1)
	hello := frame(frHello, append(uvarint(len(root.Bytes())), root.Bytes()...))
	asks := map[peer.ID]*innerAsk{}
	var answered sync.WaitGroup
	for _, p := range n.host.Network().Peers() {
		a := &innerAsk{done: make(chan struct{})}
		asks[p] = a
		answered.Go(func() {
			a.ask(ctx, n, p, root, hello, func(bs []blocks.Block) {
				select {
				case got <- inner{p, bs}:
				default:
				}
			})
		})
	}
	if !n.swarm.putAsks(root, asks) {
		defer dropAsks(asks) // another fetch of root asks already
	}
	none := make(chan struct{}) // every neighbour answered, none with INNER
	go func() { answered.Wait(); close(none) }()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	take := func(in inner) []blocks.Block {
		for p, a := range asks {
			if p != in.from { // it has answered with them
				a.noInner()
			}
		}
		if err := n.store.Blocks.PutMany(ctx, in.bs); err != nil {
			return nil
		}
		size := 0
		for _, b := range in.bs {
			size += len(b.RawData())
		}
		n.swarm.received(in.from, size)
		return in.bs
	}
	select {
	case in := <-got:
		return take(in)
	case <-none:
		select { // the last to answer may have sent them
		case in := <-got:
			return take(in)
		default:
			return nil
		}
	case <-timeout.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// innerAsk is the HELLO without a bitfield that swarmInner sent one
// neighbour, and the stream it went on: the neighbour's first frame is
// INNER, or its BITFIELD alone (it lacks the inner blocks, or was told
// NO_INNER); the fetch's link to it reads on from there (run).
type innerAsk struct {
	done chan struct{} // closed once the first frame is read, or the ask failed
	// Set before done is closed: the stream and its reader, and the first
	// frame (typ 0 if the ask failed). An INNER's body is not kept.
	br   *bufio.Reader
	typ  byte
	body []byte

	mu      sync.Mutex // guards the fields below and writes to st
	st      network.Stream
	hello   bool // HELLO written
	told    bool // NO_INNER written, or due right after the HELLO
	dropped bool
}

// ask opens the stream, says HELLO and reads the first frame; an INNER
// that checks out against root goes to got, a forged one bans p.
func (a *innerAsk) ask(ctx context.Context, n *Node, p peer.ID, root cid.Cid, hello []byte, got func([]blocks.Block)) {
	defer close(a.done)
	st, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "swarm"), p, swarmProto)
	if err != nil {
		return
	}
	a.mu.Lock()
	if a.dropped {
		a.mu.Unlock()
		_ = st.Reset()
		return
	}
	a.st = st
	out := hello
	if a.told {
		out = append(slices.Clip(hello), frame(frNoInner, nil)...)
	}
	_, err = st.Write(out)
	a.hello = true
	a.mu.Unlock()
	if err != nil {
		_ = st.Reset()
		return
	}
	br := bufio.NewReader(st)
	typ, body, err := readFrame(br, swarmMaxFrame)
	if err != nil || typ != frInner && typ != frBitfield {
		_ = st.Reset()
		return
	}
	if typ == frInner {
		bs, err := parseInner(root, body)
		if err != nil {
			n.log.Warn("swarm: a peer sent inner blocks that are not the release's DAG; banning it", "peer", p, "err", err)
			n.unwanted(p, n.strikes.Threshold())
			_ = st.Reset()
			return
		}
		got(bs)
		body = nil
	}
	a.br, a.typ, a.body = br, typ, body
}

// noInner tells the neighbour that we have the inner blocks: it sends its
// BITFIELD alone if it has not answered yet.
func (a *innerAsk) noInner() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.told || a.dropped {
		return
	}
	a.told = true
	if a.hello {
		if _, err := a.st.Write(frame(frNoInner, nil)); err != nil {
			_ = a.st.Reset()
		}
	}
}

// drop closes the ask's stream, now or as soon as it is open.
func (a *innerAsk) drop() {
	a.mu.Lock()
	a.dropped = true
	st := a.st
	a.mu.Unlock()
	if st != nil {
		_ = st.Reset()
	}
}

func dropAsks(asks map[peer.ID]*innerAsk) {
	for _, a := range asks {
		a.drop()
	}
}

// putAsks keeps swarmInner's asks for root's fetch session; false if some
// are kept already.
func (s *swarmSvc) putAsks(root cid.Cid, asks map[peer.ID]*innerAsk) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.asks[root] != nil {
		return false
	}
	s.asks[root] = asks
	return true
}

// takeAsks hands root's asks to its fetch session.
func (s *swarmSvc) takeAsks(root cid.Cid) map[peer.ID]*innerAsk {
	s.mu.Lock()
	defer s.mu.Unlock()
	asks := s.asks[root]
	delete(s.asks, root)
	return asks
}

// dropAsks closes the asks of root that no session took.
func (s *swarmSvc) dropAsks(root cid.Cid) {
	dropAsks(s.takeAsks(root))
}

// received adds verified bytes from p to its tally (FetchStats.BytesByPeer).
func (s *swarmSvc) received(p peer.ID, size int) {
	s.mu.Lock()
	s.recvBy[p] += int64(size)
	s.mu.Unlock()
}

// parseInner splits an INNER frame's body and checks the blocks against
// root (content.CheckInner).
func parseInner(root cid.Cid, body []byte) ([]blocks.Block, error) {
	var raw [][]byte
	for len(body) > 0 {
		l, w := binary.Uvarint(body)
		if w <= 0 || l > uint64(len(body)-w) {
			return nil, fmt.Errorf("%w: INNER frame", errSwarmProtocol)
		}
		raw = append(raw, body[w:w+int(l)])
		body = body[w+int(l):]
	}
	return content.CheckInner(root, raw)
}

func (ss *swarmSession) link(id int32) *swarmLink {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, l := range ss.links {
		if l.id == id {
			return l
		}
	}
	return nil
}

// run opens the stream to l.peer, says HELLO, and turns what comes back
// into events; a BLOCK is verified and stored here, before the event.
func (ss *swarmSession) run(ctx context.Context, l *swarmLink, hello []byte, k int, a *innerAsk) {
	s := ss.svc
	gone := func() {
		select {
		case ss.ev <- swarmEvent{link: l, kind: evGone}:
		case <-ctx.Done():
		}
	}
	var st network.Stream
	var br *bufio.Reader
	var first []byte // a frame read already: the BITFIELD that followed INNER
	if a != nil {    // carry on with the stream that asked for the inner blocks
		select {
		case <-a.done:
		case <-ctx.Done():
			a.drop()
			return
		}
		if a.typ != 0 {
			st, br = a.st, a.br
			if a.typ == frBitfield {
				first = a.body
			}
		}
	}
	if st == nil {
		var err error
		st, err = s.n.host.NewStream(network.WithAllowLimitedConn(ctx, "swarm"), l.peer, swarmProto)
		if err != nil {
			gone()
			return
		}
		if _, err := st.Write(frame(frHello, hello)); err != nil {
			_ = st.Reset()
			gone()
			return
		}
		br = bufio.NewReader(st)
	}
	l.st = st
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	go func() {
		for {
			select {
			case f := <-l.out:
				if _, err := st.Write(f); err != nil {
					_ = st.Reset()
					return
				}
			case <-ctx.Done():
				_ = st.Reset()
				return
			}
		}
	}()
	defer gone()
	emit := func(e swarmEvent) bool {
		select {
		case ss.ev <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		early := -1
		var typ byte
		var body []byte
		var buf *[]byte
		var err error
		if first != nil {
			typ, body, first = frBitfield, first, nil
		} else {
			typ, body, buf, err = readFrameBuf(br, swarmMaxFrame, func(i int) {
				if i < k {
					early = i
					s.arriving(ss.rel, i)
				}
			})
		}
		if err != nil {
			if early >= 0 {
				s.notComing(ss.rel, early)
			}
			_ = st.Reset()
			return
		}
		switch typ {
		case frBitfield:
			if len(body) < 1 {
				return
			}
			bf, err := swarm.ParseBitfield(body[1:], k)
			if err != nil {
				_ = st.Reset()
				return
			}
			l.superSeed.Store(body[0]&bitfieldSuperSeed != 0)
			var held []int
			for i := 0; i < k; i++ {
				if bf.Has(i) {
					held = append(held, i)
				}
			}
			s.heard(ss.rel, l.peer, -1, held...)
			if !emit(swarmEvent{link: l, kind: frBitfield, bf: bf}) {
				return
			}
		case frHave, frDontHave, frBusy, frOffer:
			i, held, ok := pieceHeld(body)
			if !ok || i >= k || held >= 0 && typ != frHave {
				_ = st.Reset()
				return
			}
			if typ == frHave {
				s.heard(ss.rel, l.peer, held, i)
			}
			if !emit(swarmEvent{link: l, kind: typ, piece: i}) {
				return
			}
		case frBlock:
			i, w := binary.Uvarint(body)
			if w <= 0 || i >= uint64(k) {
				_ = st.Reset()
				return
			}
			data := body[w:]
			s.mu.Lock()
			dup := ss.rel.have.Has(int(i))
			s.mu.Unlock()
			if dup {
				s.dup.Add(int64(len(data)))
				putBlockBuf(buf)
				if !emit(swarmEvent{link: l, kind: evStored, piece: int(i)}) {
					return
				}
				continue
			}
			// Verifying and storing go to the session's workers, so the
			// next block is read off the wire meanwhile, and the link may
			// be asked for the next piece (evArrived, sent first so it is
			// handled before the block's evStored).
			if !emit(swarmEvent{link: l, kind: evArrived, piece: int(i)}) {
				return
			}
			select {
			case ss.work <- swarmBlock{link: l, piece: int(i), data: data, buf: buf}:
			case <-ctx.Done():
				s.notComing(ss.rel, int(i))
				return
			}
		default:
			_ = st.Reset()
			return
		}
	}
}

// pieceSink takes a verified piece (the file a fetch writes); true means it
// stored the block too (by reference, in that file).
type pieceSink func(ctx context.Context, piece int, b blocks.Block) bool

// swarmBlock is a block read off a link, not yet verified. data lies in
// buf, which the worker hands back to blockBufs when nothing keeps it.
type swarmBlock struct {
	link  *swarmLink
	piece int
	data  []byte
	buf   *[]byte
}

// swarmWorkers: blocks verified, stored and written to the file at once
// per session, while the links' read loops take the next blocks off the
// wire. Two let one block hash while another waits on the store.
const swarmWorkers = 2

// worker verifies each block against its piece's CID, stores it, hands it
// to the session's sink (the file being written) and reports it stored.
// A block that does not hash to its CID bans its sender.
func (ss *swarmSession) worker(ctx context.Context) {
	for {
		var w swarmBlock
		select {
		case w = <-ss.work:
		case <-ctx.Done():
			return
		}
		if ss.store(ctx, w) {
			putBlockBuf(w.buf)
		}
	}
}

// store verifies, stores and reports one block (see worker). It reports
// whether w.buf may be recycled: true unless the block's bytes went to the
// store, which may keep them (a map datastore does), rather than only into
// the release file.
func (ss *swarmSession) store(ctx context.Context, w swarmBlock) (recycle bool) {
	s := ss.svc
	c := ss.rel.pieces[w.piece]
	b, err := blocks.NewBlockWithCid(w.data, c)
	if err == nil {
		err = content.VerifyBlock(b)
	}
	recycle = true
	if err == nil && (ss.sink == nil || !ss.sink(ctx, w.piece, b)) {
		// Verified just above: the store's own check would hash
		// the block a second time.
		recycle = false
		err = s.n.store.Blocks.PutVerified(ctx, b)
	}
	if err != nil {
		if errors.Is(err, content.ErrHashMismatch) {
			s.rejected.Add(int64(len(w.data)))
			// Over an authenticated connection a block that does not
			// hash to the piece asked for is no accident: ban.
			s.n.log.Warn("swarm: a peer sent a block that does not match its CID; banning it", "peer", w.link.peer, "cid", c)
			s.n.unwanted(w.link.peer, s.n.strikes.Threshold())
		} else if ctx.Err() == nil {
			s.n.log.Warn("swarm: store block", "cid", c, "err", err)
		}
		s.notComing(ss.rel, w.piece)
		w.link.cancel()
		return recycle
	}
	s.heard(ss.rel, w.link.peer, -1, w.piece)
	if s.stored(ss.rel, w.piece) {
		s.recv.Add(int64(len(w.data)))
		s.received(w.link.peer, len(w.data))
		s.n.notifyBitswap(ctx, b)
	} else {
		s.dup.Add(int64(len(w.data)))
	}
	select {
	case ss.ev <- swarmEvent{link: w.link, kind: evStored, piece: w.piece, size: len(w.data)}:
	case <-ctx.Done():
	}
	return recycle
}

// notifyBitswap tells bitswap a block arrived by the swarm protocol: its
// server, for peers waiting for the block (it keeps only the CID and
// size), and its client only if one of our own bitswap fetches wants the
// block — with a copy, since the client hands the block on and b's bytes
// are a recycled buffer (blockBufs).
func (n *Node) notifyBitswap(ctx context.Context, b blocks.Block) {
	_ = n.bs.Server.NotifyNewBlocks(ctx, b)
	// The wantlist is built anew on each call: look only while a bitswap
	// fetch of ours runs (the fallback), not for every block of a swarm
	// fetch.
	if n.bitswapRounds.Load() == 0 || !slices.ContainsFunc(n.bs.Client.GetWantlist(), b.Cid().Equals) {
		return
	}
	if cp, err := blocks.NewBlockWithCid(bytes.Clone(b.RawData()), b.Cid()); err == nil {
		_ = n.bs.Client.NotifyNewBlocks(ctx, cp)
	}
}

// ---- frames ----

func frame(typ byte, body []byte) []byte {
	var hdr [binary.MaxVarintLen64 + 1]byte
	w := binary.PutUvarint(hdr[:], uint64(len(body)+1))
	hdr[w] = typ
	return append(append(make([]byte, 0, w+1+len(body)), hdr[:w+1]...), body...)
}

func uvarint(i int) []byte { return binary.AppendUvarint(nil, uint64(i)) }

// forgetHeld drops p's reported count unless a stream serving p is open
// (those delete it when they end). Called with s.mu held.
func (s *swarmSvc) forgetHeld(p peer.ID) {
	if s.nserve[p] == 0 {
		delete(s.heldBy, p)
	}
}

// noteHeld records that p reports holding n pieces (a HAVE or REQUEST).
func (s *swarmSvc) noteHeld(p peer.ID, n int) {
	s.mu.Lock()
	s.heldBy[p] = n
	s.mu.Unlock()
}

// pieceHeld parses a piece number and, if one follows, the sender's count
// of pieces held (-1 if absent).
func pieceHeld(body []byte) (int, int, bool) {
	i, w := binary.Uvarint(body)
	if w <= 0 || i > 1<<30 {
		return 0, 0, false
	}
	if w == len(body) {
		return int(i), -1, true
	}
	n, w2 := binary.Uvarint(body[w:])
	if w2 <= 0 || w+w2 != len(body) || n > 1<<30 {
		return 0, 0, false
	}
	return int(i), int(n), true
}

// blockBufs recycles the buffers of BLOCK frames, those read
// (readFrameBuf) and those sent (serveOne): a transfer at link speed
// otherwise allocates, zeroes and collects its whole size again at each
// end, and on a virtual machine fresh memory costs several times more to
// touch than recycled memory.
var blockBufs sync.Pool // of *[]byte

// pooledFrame: frames at least this large are read into blockBufs.
const pooledFrame = 16 << 10

// putBlockBuf hands buf back to blockBufs (nil: nothing to hand back).
func putBlockBuf(buf *[]byte) {
	if buf != nil {
		blockBufs.Put(buf)
	}
}

// readFrameBuf is readFrame for a link's read loop: a large BLOCK frame's
// body lies in a buffer from blockBufs, returned as buf (else buf is nil),
// for the caller to hand back with putBlockBuf once nothing uses body.
func readFrameBuf(r *bufio.Reader, max int, block func(piece int)) (byte, []byte, *[]byte, error) {
	var buf *[]byte
	typ, body, err := readFrameWith(r, max, func(typ byte, n int) []byte {
		if typ == frBlock && block != nil {
			// Its piece number leads the body and comes in the first
			// packet: tell the caller before the rest arrives.
			if p, _ := r.Peek(min(n, binary.MaxVarintLen64)); len(p) > 0 {
				if i, w := binary.Uvarint(p); w > 0 && i <= 1<<30 {
					block(int(i))
				}
			}
		}
		if typ != frBlock || n < pooledFrame {
			return make([]byte, n)
		}
		if p, _ := blockBufs.Get().(*[]byte); p != nil && cap(*p) >= n {
			buf = p
		} else {
			b := make([]byte, n)
			buf = &b
		}
		*buf = (*buf)[:n]
		return *buf
	})
	if err != nil {
		putBlockBuf(buf)
		return 0, nil, nil, err
	}
	return typ, body, buf, nil
}

func readFrame(r *bufio.Reader, max int) (byte, []byte, error) {
	return readFrameWith(r, max, func(_ byte, n int) []byte { return make([]byte, n) })
}

func readFrameWith(r *bufio.Reader, max int, alloc func(typ byte, n int) []byte) (byte, []byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || n > uint64(max) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", errSwarmProtocol, n)
	}
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	body := alloc(typ, int(n-1))
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}
