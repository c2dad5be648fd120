package model

import (
	"math"
	"math/bits"
)

// sendSmall queues a small message of size bytes on n's uplink from t and
// returns when its last byte leaves. Small messages (advisories, sync
// replies) have their own queue: a multiplexed transport interleaves them
// with block data rather than putting them behind it. Their bytes count in
// the upload series.
func (e *engine) sendSmall(n int32, t, size float64) float64 {
	st := &e.st[n]
	start := max(t, st.ctlFree)
	end := start + size/e.up[e.cls[n]]
	st.ctlFree = end
	e.series.add(e.kind[n] == kSeed, start, end, size)
	return end
}

// gossipTo sends message msg (an advisory index, maybe with forgedBit) from
// a to b, ready to leave at t.
//
// The receiver's downlink carries small messages one after another too:
// copies of a message that several neighbours forward at once (before
// their IDONTWANTs cross) queue there. Bulk data does not delay them (a
// multiplexed transport interleaves).
func (e *engine) gossipTo(a, b int32, t float64, msg uint32) {
	end := e.sendSmall(a, t, e.advBytes)
	at := end + e.delay(a, b, e.advBytes/e.up[e.cls[a]])
	at = max(at, e.ctlDown[b]+e.advBytes/e.down[e.cls[b]])
	e.ctlDown[b] = at
	e.push(at, evGossip, b, a, msg)
}

// publish: seed sd publishes advisory i. go-libp2p-pubsub with flood
// publishing sends a node's own message to every connected peer, not only
// its mesh.
func (e *engine) publish(sd int32, i int) {
	st := &e.st[sd]
	bit := uint32(1) << i
	if st.flags&fOff != 0 {
		st.pendPub |= bit // the seed publishes once it is back
		return
	}
	if e.pubMask&bit == 0 {
		e.pubMask |= bit
		if i > 0 {
			e.rearmSync()
		}
	}
	if st.seen&bit != 0 {
		return
	}
	st.seen |= bit
	st.recent[0] |= bit
	e.heartbeatAfter(sd)
	for j := e.adjOff[sd]; j < e.adjOff[sd+1]; j++ {
		q := e.adj[j]
		if e.st[q].flags&fOff != 0 || e.st[q].seen&bit != 0 {
			continue
		}
		e.gossipTo(sd, q, e.now, uint32(i))
	}
}

// rearmSync restarts the sync ticks of every node whose tick chain had
// stopped (it lacked nothing): a new advisory is out.
func (e *engine) rearmSync() {
	p := e.opt.SyncIntervalSeconds
	for i := range e.n {
		n := int32(i)
		st := &e.st[i]
		if st.flags&fTick != 0 || !e.pullsSync(n) {
			continue
		}
		st.flags |= fTick
		e.push(nextPhase(float64(e.syncPhase[i]), p, e.now), evSyncTick, n, 0, 0)
	}
}

// nextPhase returns the first time after t of the form phase + k·period.
func nextPhase(phase, period, t float64) float64 {
	x := phase + float64((math.Floor((t-phase)/period)+1)*period)
	for x <= t {
		x += period
	}
	return x
}

func (e *engine) heartbeatAfter(n int32) {
	st := &e.st[n]
	if st.flags&fHeartbeat != 0 {
		return
	}
	st.flags |= fHeartbeat
	e.push(nextPhase(float64(e.hbPhase[n]), e.opt.HeartbeatSeconds, e.now), evHeartbeat, n, 0, 0)
}

// onGossip: n receives message msg from peer from.
func (e *engine) onGossip(n, from int32, msg uint32) {
	st := &e.st[n]
	if st.flags&fOff != 0 {
		return
	}
	if msg&forgedBit != 0 {
		e.onForgery(n, from)
		return
	}
	i := int(msg)
	if st.seen&(1<<i) != 0 {
		return // duplicate: the seen-cache drops it
	}
	e.accept(n, from, i, true)
}

// accept: n has received valid advisory i from peer from (-1 for none),
// through gossip or through sync. It is delivered and forwarded once
// validated, ValidateSeconds later.
func (e *engine) accept(n, from int32, i int, gossip bool) {
	st := &e.st[n]
	bit := uint32(1) << i
	st.seen |= bit
	tv := e.now + e.opt.ValidateSeconds
	if i == 0 {
		e.advAt[n] = tv
		switch e.kind[n] {
		case kHonest, kSilent:
			if e.k > 0 {
				// The manifest travels with the advisory. The session
				// broadcasts want-haves; want-blocks follow the answers,
				// a round trip later.
				st.flags |= fFetching
				if e.sw != nil {
					e.swStart(n, tv)
					break
				}
				if e.gates != nil && e.opt.GateOnWantHave {
					e.probeSeeds(n, tv)
				}
				e.wake(n, tv+float64(2*e.latency(n, n)))
			} else {
				e.finish(n, tv)
			}
		case kBad:
			if e.k > 0 {
				e.announceAll(n, tv)
			}
		}
	}
	if !gossip {
		return // documents pulled by sync are stored, not re-published
	}
	switch {
	case e.forwards(n):
		st.recent[0] |= bit
		e.heartbeatAfter(n)
		for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
			if e.eflag[j]&efMesh == 0 {
				continue
			}
			q := e.adj[j]
			// A peer that already has it said IDONTWANT (GossipSub v1.2,
			// for messages over 1 KiB) on receipt: skip it if that has
			// reached n by now. For the first advisory, whose receipt
			// times are kept, "by now" is exact; for later ones, any peer
			// that has it is skipped.
			if q == from || e.st[q].flags&fOff != 0 || e.dontWant(n, q, i, bit, tv) {
				continue
			}
			e.gossipTo(n, q, tv, uint32(i))
		}
	case e.kind[n] == kForger:
		for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
			q := e.adj[j]
			if e.eflag[j]&efMesh == 0 || e.st[q].flags&fOff != 0 {
				continue
			}
			e.forgedSent++
			e.gossipTo(n, q, tv, uint32(i)|forgedBit)
		}
	}
}

// dontWant reports whether n, forwarding advisory i at t, knows that q
// has it: q's IDONTWANT, sent when it received the message, has arrived.
func (e *engine) dontWant(n, q int32, i int, bit uint32, t float64) bool {
	if e.st[q].seen&bit == 0 {
		return false
	}
	if i != 0 {
		return true
	}
	return e.advAt[q]-e.opt.ValidateSeconds+e.latency(q, n) <= t
}

// onForgery: n validates a forged advisory from f and rejects it. The
// validator's Reject costs f its peer score: n prunes it from its mesh,
// ignores it from now on, and grafts a replacement if its mesh fell below
// Dlo. A forgery is never delivered nor forwarded.
func (e *engine) onForgery(n, f int32) {
	j := e.edge(n, f)
	if j < 0 || e.eflag[j]&efBanned != 0 {
		return
	}
	e.eflag[j] |= efBanned
	if e.eflag[j]&efMesh != 0 {
		e.unmesh(n, j)
		if int(e.st[n].mesh) < e.opt.Dlo {
			e.graftOne(n)
		}
	}
}

// graftOne adds one random eligible neighbour to n's mesh.
func (e *engine) graftOne(n int32) {
	e.pick = e.pick[:0]
	for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
		q := e.adj[j]
		if e.eflag[j]&(efMesh|efBanned) == 0 && e.st[q].flags&fOff == 0 && int(e.st[q].mesh) < e.opt.Dhi {
			e.pick = append(e.pick, j)
		}
	}
	if len(e.pick) > 0 {
		e.graft(n, e.pick[e.rng.IntN(len(e.pick))])
	}
}

// onHeartbeat: IHAVE for the messages of the last HistoryGossip heartbeats
// to max(Dlazy, GossipFactor × eligible) random connected non-mesh peers,
// then the message cache shifts. A node with nothing left to advertise
// stops scheduling heartbeats (they would do nothing in the model).
func (e *engine) onHeartbeat(n int32) {
	st := &e.st[n]
	st.flags &^= fHeartbeat
	if st.flags&fOff != 0 {
		return
	}
	h := e.opt.HistoryGossip
	var window uint32
	for i := range h {
		window |= st.recent[i]
	}
	if window != 0 && e.forwards(n) {
		e.emitIHave(n, window)
	}
	for i := h - 1; i > 0; i-- {
		st.recent[i] = st.recent[i-1]
	}
	st.recent[0] = 0
	for i := range h {
		if st.recent[i] != 0 {
			e.heartbeatAfter(n)
			break
		}
	}
}

func (e *engine) emitIHave(n int32, window uint32) {
	e.pick = e.pick[:0]
	for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
		if e.eflag[j]&(efMesh|efBanned) == 0 && e.st[e.adj[j]].flags&fOff == 0 {
			e.pick = append(e.pick, j)
		}
	}
	m := len(e.pick)
	cnt := min(m, max(e.opt.Dlazy, int(e.opt.GossipFactor*float64(m))))
	for i := range cnt {
		if cnt < m {
			x := i + e.rng.IntN(m-i)
			e.pick[i], e.pick[x] = e.pick[x], e.pick[i]
		}
		q := e.adj[e.pick[i]]
		if e.st[q].seen&window == window {
			continue // it would ignore the IHAVE
		}
		e.push(e.now+e.delay(n, q, 0), evIHave, q, n, window)
	}
}

// onIHave: n hears that from has the advisories in mask; it asks with
// IWANT for those it lacks, and from sends them.
func (e *engine) onIHave(n, from int32, mask uint32) {
	st := &e.st[n]
	if st.flags&fOff != 0 {
		return
	}
	want := mask &^ st.seen
	if want == 0 {
		return
	}
	t1 := e.now + e.delay(n, from, 0) // the IWANT reaches from
	if !e.g.Online(int(from), t1) {
		return
	}
	for want != 0 {
		i := bits.TrailingZeros32(want)
		want &^= 1 << i
		e.gossipTo(from, n, t1, uint32(i))
	}
}

// onSyncTick: the periodic catch-up. A node that lacks a published
// advisory pulls from every neighbour; one that lacks nothing lets its
// tick chain stop (publish restarts it).
func (e *engine) onSyncTick(n int32) {
	st := &e.st[n]
	st.flags &^= fTick
	if st.flags&fOff != 0 {
		return // onOnline pulls and restarts the chain
	}
	lacking := e.pubMask &^ st.seen
	if lacking == 0 {
		return
	}
	for j := e.adjOff[n]; j < e.adjOff[n+1]; j++ {
		q := e.adj[j]
		if e.eflag[j]&efBanned != 0 || !e.servesSync(q) || e.st[q].flags&fOff != 0 {
			continue
		}
		if d := e.st[q].seen & lacking; d != 0 {
			e.syncTransfer(q, n, d)
		}
	}
	st.flags |= fTick
	e.push(e.now+e.opt.SyncIntervalSeconds, evSyncTick, n, 0, 0)
}

// syncTransfer: to pulls from from, which answers with the advisories in
// mask after one round trip.
func (e *engine) syncTransfer(from, to int32, mask uint32) {
	size := float64(bits.OnesCount32(mask)) * e.advBytes
	t1 := e.now + e.delay(to, from, 0)
	end := e.sendSmall(from, t1, size)
	e.push(end+e.delay(from, to, size/e.up[e.cls[from]]), evSyncRecv, to, from, mask)
}

func (e *engine) onSyncRecv(n, from int32, mask uint32) {
	st := &e.st[n]
	if st.flags&fOff != 0 {
		return
	}
	want := mask &^ st.seen
	for want != 0 {
		i := bits.TrailingZeros32(want)
		want &^= 1 << i
		e.accept(n, from, i, false)
	}
}
