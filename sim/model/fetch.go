package model

import (
	"math"
	"slices"
)

// gate is the seed's super-seeding decision, content.Gate in the model's
// terms: the first peer to ask for a chunk gets it; one more peer may get it
// from the seed per interval since it was first served; peers already
// granted are always served.
type gate struct {
	first []float64 // -1: not yet served
	peers [][]int32
}

func newGate(k int) gate {
	g := gate{first: make([]float64, k), peers: make([][]int32, k)}
	for i := range g.first {
		g.first[i] = -1
	}
	return g
}

func (g *gate) allow(p, c int32, now, interval float64) bool {
	if g.first[c] < 0 {
		g.first[c] = now
		g.peers[c] = append(g.peers[c], p)
		return true
	}
	if slices.Contains(g.peers[c], p) {
		return true
	}
	quota := 1 + int(math.Floor((now-g.first[c])/interval))
	if len(g.peers[c]) >= quota {
		return false
	}
	g.peers[c] = append(g.peers[c], p)
	return true
}

func bitOf(w []uint64, c int32) bool { return w[c>>6]&(1<<(c&63)) != 0 }
func setBit(w []uint64, c int32)     { w[c>>6] |= 1 << (c & 63) }
func clearBit(w []uint64, c int32)   { w[c>>6] &^= 1 << (c & 63) }

func (e *engine) words3(n int32) (have, infl, ref []uint64) {
	if e.words == 1 {
		st := &e.st[n]
		return st.have0[:], st.infl0[:], st.ref0[:]
	}
	b := int(n) * e.words
	return e.have[b : b+e.words], e.inflight[b : b+e.words], e.refused[b : b+e.words]
}

// haveOf returns n's chunk bitset: inline in its state for up to 64 chunks.
func (e *engine) haveOf(n int32) []uint64 {
	if e.words == 1 {
		return e.st[n].have0[:]
	}
	b := int(n) * e.words
	return e.have[b : b+e.words]
}

func (e *engine) isStarved(n int32) bool { return e.starved[n>>6]&(1<<(n&63)) != 0 }
func (e *engine) setStarved(n int32, on bool) {
	if on {
		e.starved[n>>6] |= 1 << (n & 63)
	} else {
		e.starved[n>>6] &^= 1 << (n & 63)
	}
}

func (e *engine) chunkBytes(c int32) float64 {
	if last := e.file - int64(c)*e.chunk; last < e.chunk {
		return float64(last)
	}
	return float64(e.chunk)
}

// wake schedules a look for blocks at n at t, unless one is due earlier.
func (e *engine) wake(n int32, t float64) {
	st := &e.st[n]
	t = max(t, e.now)
	if t < st.wakeAt {
		st.wakeAt = t
		e.q.push(t, evWake, n, 0, 0)
	}
}

// announce: q received chunk c at now. Its HAVE reaches each neighbour one
// latency later; neighbours that are waiting for something to ask for look
// then.
func (e *engine) announce(q, c int32) {
	for j := e.adjOff[q]; j < e.adjOff[q+1]; j++ {
		r := e.adj[j]
		if !e.isStarved(r) {
			continue
		}
		if have, infl, _ := e.words3(r); bitOf(have, c) || bitOf(infl, c) {
			continue
		}
		e.wake(r, e.now+e.latency(q, r))
	}
}

// announceAll: q can serve (again) from t; waiting neighbours look.
func (e *engine) announceAll(q int32, t float64) {
	for j := e.adjOff[q]; j < e.adjOff[q+1]; j++ {
		if r := e.adj[j]; e.isStarved(r) {
			e.wake(r, t+e.latency(q, r))
		}
	}
}

// fill is the device's bitswap session: while fewer than Window want-blocks
// are outstanding, it takes the next chunk in its own random want order
// (content.PlanWants shuffles) that a neighbour is known to have, and asks
// the holder with the shortest upload queue for it. Knowledge of a
// neighbour's blocks is its HAVEs, which arrive one latency after it got
// each block; the seed has every block but its gate may refuse.
func (e *engine) fill(r int32) {
	st := &e.st[r]
	if st.flags&(fOff|fDone) != 0 || st.flags&fFetching == 0 {
		return
	}
	free := e.opt.Window - int(st.out)
	if free <= 0 {
		e.setStarved(r, false)
		return
	}
	w := e.words
	have, infl, ref := e.words3(r)
	if st.refusedAt >= 0 && e.now >= st.refusedAt+e.opt.SeedRetrySeconds {
		clear(ref)
		st.refusedAt = -1
		st.flags &^= fProbed // the session broadcasts its wants again
	}
	if st.flags&fProbed == 0 && e.gates != nil && e.opt.GateOnWantHave {
		e.probeSeeds(r, e.now)
	}
	e.views = e.views[:0]
	e.vmask = e.vmask[:0]
	union := e.union
	clear(union)
	later := math.Inf(1) // when a HAVE still on its way becomes usable
	for j := e.adjOff[r]; j < e.adjOff[r+1]; j++ {
		if e.eflag[j]&efBanned != 0 {
			continue
		}
		q := e.adj[j]
		qs := &e.st[q]
		if qs.flags&fOff != 0 {
			continue
		}
		off := len(e.vmask)
		switch qs.kind {
		case kSeed:
			for i := range w {
				e.vmask = append(e.vmask, e.full[i]&^ref[i])
			}
		case kHonest:
			if qs.lastGot < 0 {
				continue // holds nothing yet
			}
			e.vmask = append(e.vmask, e.haveOf(q)...)
			if c := qs.lastGot; c >= 0 {
				if vis := qs.lastGotAt + e.latency(q, r); vis > e.now {
					clearBit(e.vmask[off:], c) // its HAVE is still on the way
					if !bitOf(have, c) && !bitOf(infl, c) {
						later = min(later, vis)
					}
				}
			}
		case kBad:
			if qs.seen&1 == 0 {
				continue
			}
			if vis := e.advAt[q] + e.latency(q, r); vis > e.now {
				later = min(later, vis)
				continue
			}
			e.vmask = append(e.vmask, e.full...)
		default:
			continue // silent nodes, forgers and Sybils never say HAVE
		}
		useful := false
		for i := range w {
			m := e.vmask[off+i] &^ have[i] &^ infl[i]
			union[i] |= m
			useful = useful || m != 0
		}
		if !useful {
			e.vmask = e.vmask[:off]
			continue
		}
		e.views = append(e.views, view{q: q, j: j})
	}
	if nv := len(e.views); nv > 0 {
		start := e.rng.IntN(nv)
		k := int32(e.k)
		perm := e.perm[int(r)*e.k : int(r)*e.k+e.k]
		for st.cursor < k && bitOf(have, int32(perm[st.cursor])) {
			st.cursor++
		}
		for p := st.cursor; p < k && free > 0; p++ {
			c := int32(perm[p])
			if !bitOf(union, c) {
				continue
			}
			best, bestLen := -1, int32(math.MaxInt32)
			for x := range nv {
				v := start + x
				if v >= nv {
					v -= nv
				}
				if !bitOf(e.vmask[v*w:], c) {
					continue
				}
				if l := e.st[e.views[v].q].qLen; l < bestLen {
					best, bestLen = v, l
				}
			}
			clearBit(union, c)
			e.issue(r, e.views[best].j, e.views[best].q, c)
			free--
		}
	}
	missing := e.k - int(st.haveCount) - int(st.out)
	starved := free > 0 && missing > 0
	e.setStarved(r, starved)
	if starved {
		if st.refusedAt >= 0 {
			later = min(later, st.refusedAt+e.opt.SeedRetrySeconds)
		}
		if later < math.Inf(1) {
			e.wake(r, later)
		}
	}
}

// probeSeeds: at t, r's session broadcasts want-have for its first
// LiveWants missing chunks (in its want order); each seed neighbour's gate
// grants or refuses each one as it arrives. Refused chunks are left alone
// at the seeds until SeedRetrySeconds later.
func (e *engine) probeSeeds(r int32, t float64) {
	st := &e.st[r]
	st.flags |= fProbed
	have, _, ref := e.words3(r)
	perm := e.perm[int(r)*e.k : int(r)*e.k+e.k]
	refused := false
	for j := e.adjOff[r]; j < e.adjOff[r+1]; j++ {
		q := e.adj[j]
		if e.kind[q] != kSeed || e.st[q].flags&fOff != 0 || e.eflag[j]&efBanned != 0 {
			continue
		}
		at := t + e.latency(r, q)
		for p, live := int(st.cursor), 0; p < e.k && live < e.opt.LiveWants; p++ {
			c := int32(perm[p])
			if bitOf(have, c) {
				continue
			}
			live++
			if !bitOf(ref, c) && !e.gates[q].allow(r, c, at, e.opt.GateIntervalSeconds) {
				setBit(ref, c)
				refused = true
			}
		}
	}
	if refused {
		st.refusedAt = t
	}
}

// holderFor returns the neighbour (adjacency index and node) other than
// not that r knows has chunk c, with the shortest queue; -1 if none.
func (e *engine) holderFor(r, c, not int32) (int32, int32) {
	_, _, ref := e.words3(r)
	bestJ, bestQ, bestLen := int32(-1), int32(-1), int32(math.MaxInt32)
	for j := e.adjOff[r]; j < e.adjOff[r+1]; j++ {
		q := e.adj[j]
		qs := &e.st[q]
		if q == not || e.eflag[j]&efBanned != 0 || qs.flags&fOff != 0 {
			continue
		}
		switch e.kind[q] {
		case kSeed:
			if bitOf(ref, c) {
				continue
			}
		case kHonest:
			if !bitOf(e.haveOf(q), c) || (qs.lastGot == c && qs.lastGotAt+e.latency(q, r) > e.now) {
				continue
			}
		case kBad:
			if qs.seen&1 == 0 || e.advAt[q]+e.latency(q, r) > e.now {
				continue
			}
		default:
			continue
		}
		if qs.qLen < bestLen {
			bestJ, bestQ, bestLen = j, q, qs.qLen
		}
	}
	return bestJ, bestQ
}

func (e *engine) allocReq() int32 {
	if id := e.freeReq; id >= 0 {
		e.freeReq = e.reqs[id].next
		return id
	}
	e.reqs = append(e.reqs, request{})
	return int32(len(e.reqs) - 1)
}

func (e *engine) release(id int32) {
	R := &e.reqs[id]
	R.gen++
	R.state = rqFree
	R.next = e.freeReq
	e.freeReq = id
}

// timeout is bitswap's DONT_HAVE timeout for r's want-blocks to the peer
// at adjacency index j.
func (e *engine) timeout(j, r, q int32) float64 {
	o := &e.opt
	var t float64
	if ew := e.ewma[j]; ew > 0 {
		t = o.TimeoutMultiplier * float64(ew)
	} else {
		t = o.WantProcessSeconds + float64(3*2*e.latency(r, q))
	}
	return min(max(t, o.TimeoutMinSeconds), o.TimeoutMaxSeconds)
}

// issue sends r's want-block for chunk c to q (r's neighbour at index j).
func (e *engine) issue(r, j, q, c int32) {
	st := &e.st[r]
	_, infl, _ := e.words3(r)
	setBit(infl, c)
	st.out++
	id := e.allocReq()
	R := &e.reqs[id]
	*R = request{issued: e.now, r: r, p: q, pIdx: j, chunk: c, next: -1, epoch: st.epoch, gen: R.gen, state: rqQueued}
	R.ready = e.now + e.delay(r, q, 0)
	if e.kind[q] == kSeed && e.gates != nil && !e.gates[q].allow(r, c, R.ready, e.opt.GateIntervalSeconds) {
		// DONT_HAVE from the gate, one round trip after asking.
		e.push(R.ready+e.delay(q, r, 0), evRefused, r, c, st.epoch)
		e.release(id)
		return
	}
	if e.opt.WantTimeout {
		// Before the want-block, q answered r's want-have for c with
		// HAVE one round trip after it was sent: boxo's latency estimate
		// takes the first answer to each want, so fast HAVEs pull it
		// toward the round trip while blocks wait in upload queues.
		rtt := float32(2 * e.latency(r, q))
		if ew := e.ewma[j]; ew > 0 {
			e.ewma[j] = 0.5*ew + 0.5*rtt
		} else {
			e.ewma[j] = rtt
		}
		e.timers.add(e.now, e.now+e.timeout(j, r, q), timer{r: r, id: id, gen: R.gen})
	}
	e.enqueue(q, id)
}

// enqueue puts request id at the back of q's upload queue. Blocks leave an
// uplink one at a time, in the order asked: the real server round-robins
// over peers in block-sized slices, which for one-block requests is close
// to first come, first served.
func (e *engine) enqueue(q, id int32) {
	qs := &e.st[q]
	e.reqs[id].next = -1
	if qs.qTail >= 0 {
		e.reqs[qs.qTail].next = id
	} else {
		qs.qHead = id
	}
	qs.qTail = id
	qs.qLen++
	if qs.flags&fBusy == 0 {
		e.startNext(q)
	}
}

// startNext starts sending the next request in q's queue that is still
// wanted: one whose requester has the block (and whose CANCEL has arrived)
// or went away is dropped.
func (e *engine) startNext(q int32) {
	qs := &e.st[q]
	for qs.qHead >= 0 {
		id := qs.qHead
		R := &e.reqs[id]
		qs.qHead = R.next
		if qs.qHead < 0 {
			qs.qTail = -1
		}
		ts := max(e.now, R.ready)
		if e.cancelled(R, ts) {
			qs.qLen--
			e.release(id)
			continue
		}
		if e.eflag[R.pIdx]&efBanned != 0 {
			// The requester dropped this peer (a corrupt block) and
			// cancelled its wants there: it asks elsewhere.
			qs.qLen--
			R.state = rqFailed
			e.push(ts, evFail, R.r, id, R.gen)
			continue
		}
		R.start = ts
		R.state = rqSending
		qs.cur = id
		qs.flags |= fBusy
		e.push(ts+e.chunkBytes(R.chunk)/e.up[e.cls[q]], evSendDone, q, id, R.gen)
		return
	}
	qs.flags &^= fBusy
}

func (e *engine) cancelled(R *request, ts float64) bool {
	rs := &e.st[R.r]
	if R.epoch != rs.epoch {
		return true
	}
	have, _, _ := e.words3(R.r)
	if !bitOf(have, R.chunk) {
		return false
	}
	return !(rs.lastGot == R.chunk && rs.lastGotAt+e.latency(R.r, R.p) > ts)
}

// onSendDone: q's uplink has sent request id's block. It reaches the
// requester after the latency, no faster than the requester's downlink
// takes it (the downlink is a reservation timeline: blocks arriving
// together share it).
func (e *engine) onSendDone(q, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen || R.state != rqSending {
		return
	}
	qs := &e.st[q]
	qs.cur = -1
	qs.flags &^= fBusy
	qs.qLen--
	size := e.chunkBytes(R.chunk)
	seed := e.kind[q] == kSeed
	e.series.add(seed, R.start, e.now, size)
	if seed {
		e.seedSent += int64(size)
		if e.sw != nil {
			e.swSent(q, R.r, R.chunk)
		}
	}
	r := R.r
	rs := &e.st[r]
	if R.epoch == rs.epoch && rs.flags&fOff == 0 {
		dur := e.now - R.start
		tA := e.now + e.delay(q, r, dur)
		dd := size / e.down[e.cls[r]]
		done := max(tA, rs.downFree+dd, tA-dur+dd)
		rs.downFree = done
		R.state = rqFlight
		e.push(done, evDeliver, r, id, R.gen)
	} else {
		e.release(id)
	}
	e.startNext(q)
}

// onDeliver: the block of request id is at r. r hashes it: a corrupt
// block is dropped and its sender never asked again; a block r already
// holds is a duplicate.
func (e *engine) onDeliver(r, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen {
		return
	}
	rs := &e.st[r]
	c := R.chunk
	size := e.chunkBytes(c)
	if R.epoch != rs.epoch || rs.flags&fOff != 0 {
		e.release(id)
		return
	}
	have, infl, _ := e.words3(r)
	if e.kind[R.p] == kBad {
		e.rejRecv += int64(size)
		e.badServed++
		e.eflag[R.pIdx] |= efBanned
		if !R.orphan && bitOf(infl, c) {
			clearBit(infl, c)
			rs.out--
		}
		e.release(id)
		e.fill(r)
		return
	}
	if e.ewma != nil {
		l := float32(e.now - R.issued)
		if ew := e.ewma[R.pIdx]; ew > 0 {
			e.ewma[R.pIdx] = float32(0.5*ew) + float32(0.5*l)
		} else {
			e.ewma[R.pIdx] = l
		}
	}
	from := R.p
	e.release(id)
	if bitOf(have, c) {
		e.dupRecv += int64(size)
		return
	}
	e.credit(r, from, c)
	rs.lastGot, rs.lastGotAt = c, e.now
	if bitOf(infl, c) {
		clearBit(infl, c)
		rs.out--
	}
	if e.kind[r] == kHonest {
		e.announce(r, c)
	}
	if int(rs.haveCount) == e.k {
		rs.flags |= fDone
		e.patchAt[r] = e.now
		e.setStarved(r, false)
		e.finish(r, e.now)
		return
	}
	e.fill(r)
}

// onTimeout: no answer to want-block id within the timeout. Bitswap takes
// it as DONT_HAVE and asks another peer that has the block; the first may
// still send it (a duplicate unless r's CANCEL gets there first).
func (e *engine) onTimeout(r, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen || R.orphan || R.state == rqFailed {
		return
	}
	rs := &e.st[r]
	if R.epoch != rs.epoch || rs.flags&fOff != 0 {
		return
	}
	c := R.chunk
	have, infl, _ := e.words3(r)
	if bitOf(have, c) {
		return
	}
	j, q := e.holderFor(r, c, R.p)
	if j < 0 {
		return
	}
	R.orphan = true
	if bitOf(infl, c) {
		clearBit(infl, c)
		rs.out--
	}
	e.issue(r, j, q, c)
}

// onRefused: the seed's gate said DONT_HAVE for chunk c. r asks others for
// it and leaves it alone at the seed for SeedRetrySeconds.
func (e *engine) onRefused(r, c int32, epoch uint32) {
	rs := &e.st[r]
	if epoch != rs.epoch || rs.flags&fOff != 0 {
		return
	}
	_, infl, ref := e.words3(r)
	if bitOf(infl, c) {
		clearBit(infl, c)
		rs.out--
	}
	setBit(ref, c)
	rs.refusedAt = e.now
	e.fill(r)
}

// onFail: request id's sender went offline; r asks elsewhere.
func (e *engine) onFail(r, id int32, gen uint32) {
	R := &e.reqs[id]
	if R.gen != gen {
		return
	}
	rs := &e.st[r]
	ok := R.epoch == rs.epoch && rs.flags&fOff == 0
	if ok && !R.orphan {
		if _, infl, _ := e.words3(r); bitOf(infl, R.chunk) {
			clearBit(infl, R.chunk)
			rs.out--
		}
	}
	e.release(id)
	if ok {
		e.fill(r)
	}
}

// credit records chunk c, new to r, received from from.
func (e *engine) credit(r, from, c int32) {
	setBit(e.haveOf(r), c)
	e.st[r].haveCount++
	if size := int64(e.chunkBytes(c)); e.kind[from] == kSeed {
		e.seedRecv += size
	} else {
		e.peerRecv += size
	}
}
