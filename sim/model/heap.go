package model

import "math"

// Event kinds.
const (
	evPublish    uint8 = iota // a seed publishes advisory c
	evGossip                  // a receives gossip message c (advisory index, forgedBit for a forgery) from b
	evIHave                   // a receives IHAVE for the advisories in mask c from b
	evHeartbeat               // a's GossipSub heartbeat
	evSyncTick                // a's periodic catch-up sync
	evSyncRecv                // a receives the advisories in mask c from b by sync
	evOffline                 // a goes offline
	evOnline                  // a comes back
	evWake                    // a looks for blocks to ask for
	evSendDone                // sender a finished sending request b (generation c)
	evDeliver                 // request b (generation c) arrives at its requester a
	evTimeout                 // a's want-block b (generation c) timed out
	evRefused                 // the seed's gate refused a's want for chunk b (a's epoch c)
	evFail                    // request b (generation c) of a failed: its sender went offline
	evSwBitfield              // swarm: a receives b's bitfield (a's epoch c)
	evSwHave                  // swarm: a hears that b holds piece c
	evSwRequest               // swarm: request b (generation c) reaches its uploader a
	evSwBusy                  // swarm: uploader b answered BUSY to a's request for piece c
	evSwOffer                 // swarm: a receives b's offer of piece c
)

// event is one scheduled happening. Events at the same time run in the order
// they were scheduled (seq), so a run is a pure function of the scenario.
type event struct {
	t    float64
	seq  uint64
	a, b int32
	c    uint32
	kind uint8
}

func (x *event) before(y *event) bool {
	return x.t < y.t || (x.t == y.t && x.seq < y.seq)
}

// eventHeap is a 4-ary min-heap of events by (t, seq). Four children per
// node halve the depth of a binary heap and keep siblings in one cache line
// or two.
type eventHeap struct {
	h   []event
	seq uint64
}

func (q *eventHeap) len() int { return len(q.h) }

func (q *eventHeap) push(t float64, kind uint8, a, b int32, c uint32) {
	q.seq++
	e := event{t: t, seq: q.seq, a: a, b: b, c: c, kind: kind}
	h := append(q.h, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) >> 2
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
	q.h = h
}

// peek returns the earliest event; the heap must not be empty.
func (q *eventHeap) peek() *event { return &q.h[0] }

// pop removes and returns the earliest event; the heap must not be empty.
func (q *eventHeap) pop() event {
	h := q.h
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	q.h = h
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		end := min(c+4, n)
		for j := c + 1; j < end; j++ {
			if h[j].before(&h[m]) {
				m = j
			}
		}
		if !h[m].before(&last) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = last
	return top
}

// timer is a want-block timeout: request id of requester r, generation gen.
type timer struct {
	r, id int32
	gen   uint32
}

// timerWheel holds the want-block timeouts, one per request: most are
// moot by the time they are due, so they stay out of the event heap. A
// timeout due at t fires at t rounded up to the wheel's resolution (1 ms);
// timeouts due in the same slot fire in the order they were set, before
// heap events at the same time.
type timerWheel struct {
	res     float64
	buckets [][]timer
	pos     int64 // absolute slot index: no timer is due before it
	count   int
}

func (w *timerWheel) init(maxDelay, res float64) {
	w.res = res
	w.buckets = make([][]timer, int(math.Ceil(maxDelay/res))+2)
}

// add sets a timer due at t, at most maxDelay after now.
func (w *timerWheel) add(now, t float64, tm timer) {
	if w.count == 0 {
		w.pos = int64(now / w.res)
	}
	idx := max(int64(math.Ceil(t/w.res)), w.pos)
	n := int64(len(w.buckets))
	w.buckets[idx%n] = append(w.buckets[idx%n], tm)
	w.count++
}

// next returns when the earliest timer fires, +Inf if none is set.
func (w *timerWheel) next() float64 {
	if w.count == 0 {
		return math.Inf(1)
	}
	n := int64(len(w.buckets))
	for len(w.buckets[w.pos%n]) == 0 {
		w.pos++
	}
	return float64(w.pos) * w.res
}

// take removes and returns the timers of the slot next reported. The slice
// is valid until the wheel turns once more (timers set meanwhile are due
// later, in other slots).
func (w *timerWheel) take() []timer {
	n := int64(len(w.buckets))
	b := w.buckets[w.pos%n]
	w.buckets[w.pos%n] = b[:0]
	w.pos++
	w.count -= len(b)
	return b
}
