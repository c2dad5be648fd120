package model

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tocsin-iiot/tocsin/content/swarm"
)

// The swarm protocol (node/swarm.go) in the model's terms. The decisions
// are the node's own code, content/swarm's Scheduler and Reveal; what the
// model adds is the timing of the frames between them:
//   - a device starting a fetch says HELLO to every neighbour; those that
//     know the release answer with their bitfield (a seed: the few pieces
//     it shows) one round trip later; those that do not yet answer one
//     latency after their own fetch starts;
//   - every piece a device stores is announced (HAVE) to its neighbours,
//     arriving one latency later; a seed hears of them too, and shows the
//     device more pieces when fewer than swarm.RevealAhead shown ones are
//     still unsent;
//   - a REQUEST reaches the neighbour one latency after it is sent; a
//     neighbour with UploadQueue requests already taken (the one being
//     sent included) answers BUSY, which arrives one latency later;
//     otherwise the request joins its upload FIFO (the bitswap mode's
//     queue and link model: one block at a time on the uplink, the
//     downlink a reservation timeline);
//   - a device that stores a piece offers it to the neighbours its
//     scheduler names (swarm.Scheduler.OfferTargets); the OFFER arrives
//     one latency later, and a neighbour whose scheduler takes it
//     (Offered) sends a REQUEST, which joins the front of the uploader's
//     FIFO whatever its length, never BUSY.
//
// Not modelled: the node announces a piece as its block begins to arrive
// and not to neighbours known to hold it, HAVE and REQUEST carry the
// sender's count of pieces, an uploader's free slot goes to a neighbour
// eight pieces or more behind the first to ask, and uploads paced to
// uplink_rate hold their slot until the link has one block left; here a
// piece is announced to every neighbour once stored, and uploads are
// served in turn, one block at a time on the uplink (which pacing
// approaches). Nor the INNER frame that
// brings a stack device the DAG's inner blocks (12.9 kB for 256 pieces,
// from every neighbour that knows the release) before its bitfields: here
// the piece list comes with the advisory.
//
// Silent, forging, Sybil and bad-block nodes do not speak the protocol.

type swPair struct{ seed, dev int32 }

type swSeedView struct {
	shown swarm.Bitfield // pieces the seed has shown the device
	has   swarm.Bitfield // pieces the seed knows the device holds
}

func (e *engine) swTime(t float64) time.Time { return time.Unix(0, int64(math.Round(t*1e9))) }

func (e *engine) swSpeaks(q int32) bool { k := e.kind[q]; return k == kSeed || k == kHonest }

// swStart: r has the manifest at t and starts its swarm session.
func (e *engine) swStart(r int32, t float64) {
	st := &e.st[r]
	have := swarm.Bitfield(append([]uint64(nil), e.haveOf(r)...))
	rng := rand.New(rand.NewPCG(uint64(e.s.Seed), uint64(r)<<8|uint64(st.epoch&0xff)))
	e.sw[r] = swarm.NewScheduler(e.k, have, e.opt.SwarmConfig, rng)
	for j := e.adjOff[r]; j < e.adjOff[r+1]; j++ {
		q := e.adj[j]
		if !e.swSpeaks(q) || e.st[q].flags&fOff != 0 {
			continue
		}
		if e.kind[q] == kSeed || e.sw[q] != nil || e.st[q].flags&fDone != 0 {
			e.push(t+2*e.latency(r, q), evSwBitfield, r, q, st.epoch)
		}
		if e.sw[q] != nil {
			// q said HELLO to r before r knew the release: r answers now.
			e.push(t+e.latency(r, q), evSwBitfield, q, r, e.st[q].epoch)
		}
	}
}

// onSwBitfield: r receives q's bitfield.
func (e *engine) onSwBitfield(r, q int32, epoch uint32) {
	sch := e.sw[r]
	if sch == nil || e.st[r].epoch != epoch || e.st[r].flags&fOff != 0 {
		return
	}
	if e.kind[q] == kSeed {
		v := e.swView(q, r)
		sch.SetSeed(q, true)
		sch.SetHave(q, v.shown.Clone())
	} else {
		sch.SetHave(q, swarm.Bitfield(append([]uint64(nil), e.haveOf(q)...)))
	}
	e.swFill(r)
}

// swView returns the seed's view of device r, showing it its first pieces
// if it has none yet.
func (e *engine) swView(sd, r int32) *swSeedView {
	key := swPair{sd, r}
	v := e.swSeed[key]
	if v == nil {
		v = &swSeedView{shown: swarm.NewBitfield(e.k), has: swarm.Bitfield(append([]uint64(nil), e.haveOf(r)...))}
		e.swSeed[key] = v
		e.swTopUp(sd, r, v, false)
	}
	return v
}

// swTopUp: the seed shows r more pieces while fewer than RevealAhead shown
// ones are unsent; with announce, each new one reaches r one latency later.
func (e *engine) swTopUp(sd, r int32, v *swSeedView, announce bool) {
	pending := 0
	ex := v.has.Clone()
	for i := 0; i < e.k; i++ {
		if v.shown.Has(i) {
			ex.Set(i)
			if !v.has.Has(i) {
				pending++
			}
		}
	}
	for _, i := range e.swReveal[sd].Pick(ex, swarm.RevealAhead-pending, e.rng) {
		v.shown.Set(i)
		if announce {
			e.push(e.now+e.latency(sd, r), evSwHave, r, sd, uint32(i))
		}
	}
}

// onSwHave: r hears that q holds piece c.
func (e *engine) onSwHave(r, q int32, c uint32) {
	if e.kind[r] == kSeed {
		if v := e.swSeed[swPair{r, q}]; v != nil {
			v.has.Set(int(c))
			e.swTopUp(r, q, v, true)
		}
		return
	}
	sch := e.sw[r]
	if sch == nil || e.st[r].flags&fOff != 0 {
		return
	}
	sch.Announce(q, int(c))
	e.swFill(r)
}

// swFill sends r's requests and arms its next timer.
func (e *engine) swFill(r int32) {
	sch := e.sw[r]
	st := &e.st[r]
	if sch == nil || st.flags&(fOff|fDone) != 0 {
		return
	}
	now := e.swTime(e.now)
	sch.Expire(now)
	for _, x := range sch.Next(now) {
		e.swIssue(r, x.Peer, int32(x.Piece))
	}
	if at, ok := sch.NextEvent(now); ok {
		// At least a microsecond on: float seconds and integer
		// nanoseconds must not round the wake-up back to now.
		e.wake(r, max(float64(at.UnixNano())/1e9, e.now+1e-6))
	}
}

func (e *engine) swIssue(r, q, c int32) { e.swAsk(r, q, c, false) }

// swAsk sends r's request for piece c to q; offered: q offered it.
func (e *engine) swAsk(r, q, c int32, offered bool) {
	st := &e.st[r]
	id := e.allocReq()
	R := &e.reqs[id]
	*R = request{issued: e.now, r: r, p: q, pIdx: e.edge(r, q), chunk: c, next: -1, epoch: st.epoch, gen: R.gen, state: rqQueued, offered: offered}
	R.ready = e.now + e.latency(r, q)
	e.push(R.ready, evSwRequest, q, id, R.gen)
}

// onSwRequest: request id reaches its uploader q.
func (e *engine) onSwRequest(q, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen {
		return
	}
	qs := &e.st[q]
	if qs.flags&fOff != 0 {
		R.state = rqFailed
		e.push(e.now+e.latency(q, R.r), evFail, R.r, id, R.gen)
		return
	}
	if R.offered {
		e.enqueueFront(q, id)
		return
	}
	if int(qs.qLen) >= e.opt.UploadQueue {
		e.push(e.now+e.latency(q, R.r), evSwBusy, R.r, q, uint32(R.chunk))
		e.release(id)
		return
	}
	e.enqueue(q, id)
}

// enqueueFront puts request id at the front of q's upload queue (behind
// the block being sent).
func (e *engine) enqueueFront(q, id int32) {
	qs := &e.st[q]
	if qs.qHead < 0 {
		e.enqueue(q, id)
		return
	}
	e.reqs[id].next = qs.qHead
	qs.qHead = id
	qs.qLen++
	if qs.flags&fBusy == 0 {
		e.startNext(q)
	}
}

// onSwOffer: r receives q's offer of piece c, and asks for it if its
// scheduler takes the offer.
func (e *engine) onSwOffer(r, q int32, c uint32) {
	sch := e.sw[r]
	if sch == nil || e.st[r].flags&(fOff|fDone) != 0 {
		return
	}
	if sch.Offered(q, int(c), e.swTime(e.now)) {
		e.swAsk(r, q, int32(c), true)
	}
}

func (e *engine) onSwBusy(r, q int32, c uint32) {
	if sch := e.sw[r]; sch != nil {
		sch.Busy(q, int(c), e.swTime(e.now))
		e.swFill(r)
	}
}

// swSent: the seed sd finished sending piece c to r.
func (e *engine) swSent(sd, r, c int32) {
	if v := e.swSeed[swPair{sd, r}]; v != nil {
		v.has.Set(int(c))
		e.swTopUp(sd, r, v, true)
	}
}

// swDeliver: the block of request id is at r.
func (e *engine) swDeliver(r, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen {
		return
	}
	rs := &e.st[r]
	c, from := R.chunk, R.p
	size := e.chunkBytes(c)
	e.release(id)
	sch := e.sw[r]
	if R.epoch != rs.epoch || rs.flags&fOff != 0 || sch == nil {
		return
	}
	have := e.haveOf(r)
	sch.Received(from, int(c))
	if bitOf(have, c) {
		e.dupRecv += int64(size)
		e.swFill(r)
		return
	}
	e.credit(r, from, c)
	if e.kind[r] == kHonest {
		for j := e.adjOff[r]; j < e.adjOff[r+1]; j++ {
			q := e.adj[j]
			if e.st[q].flags&fOff != 0 {
				continue
			}
			if e.sw[q] != nil && e.st[q].flags&fDone == 0 || e.kind[q] == kSeed {
				e.push(e.now+e.latency(r, q), evSwHave, q, r, uint32(c))
			}
		}
	}
	if e.kind[r] == kHonest {
		for _, p := range sch.OfferTargets(int(c)) {
			if e.st[p].flags&fOff == 0 {
				e.push(e.now+e.latency(r, p), evSwOffer, p, r, uint32(c))
			}
		}
	}
	if int(rs.haveCount) == e.k {
		sch.Next(e.swTime(e.now)) // closes its Waits
		rs.flags |= fDone
		e.patchAt[r] = e.now
		e.finish(r, e.now)
		return
	}
	e.swFill(r)
}

// swFail: request id's uploader went away; r forgets it until it is back.
func (e *engine) swFail(r, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen {
		return
	}
	q := R.p
	e.release(id)
	if sch := e.sw[r]; sch != nil && R.epoch == e.st[r].epoch {
		sch.RemovePeer(q)
		e.swFill(r)
	}
}

// swOnline: n is back; its neighbours' sessions reconnect to it, and its
// own session starts again.
func (e *engine) swOnline(n int32) {
	for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
		r := e.adj[j]
		if e.sw[r] != nil && e.st[r].flags&(fOff|fDone) == 0 && e.swSpeaks(n) {
			e.sw[r].RemovePeer(n)
			e.push(e.now+2*e.latency(r, n), evSwBitfield, r, n, e.st[r].epoch)
		}
	}
	if e.st[n].flags&fFetching != 0 && e.st[n].flags&fDone == 0 {
		e.swStart(n, e.now)
	}
}
