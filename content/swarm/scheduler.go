package swarm

import (
	"cmp"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"time"
)

// Config tunes a Scheduler. Zero fields take the defaults below.
type Config struct {
	// PerPeer is the most requests outstanding at one neighbour. Two keep
	// a slow or lossy link busy across round trips (on the 30%-loss
	// namespace fleet the slowest device took 136 s with 2, 159 s with
	// 1); more make pieces queue at busy neighbours, where they reach
	// nobody. Default 2.
	PerPeer int
	// SoloPerPeer is the most requests outstanding at a neighbour that is
	// the device's only one (SetNeighbours(1): a controller behind one
	// gateway, a device fetching from a seed alone). There is nobody to
	// spread requests over, and two in flight left a fast link idle half
	// the time (loopback, 256 KiB pieces: 0.7 of net/http's throughput
	// with 2). It also raises Window for that device. Default 8.
	SoloPerPeer int
	// SoloMaxWait: once a request at that lone neighbour has waited this
	// long the link is slow or lossy, and the extra depth would only make
	// the last requests time out: it is asked for PerPeer from then on.
	// Default 2s (a fifth of Timeout; at 500ms a slow start on a fast
	// link sometimes gave the depth up for good).
	SoloMaxWait time.Duration
	// Window is the most requests outstanding in all: enough to keep the
	// device's downlink busy across round trips, few enough that it does
	// not tie up many neighbours' queues. Default DefaultWindow (6), which
	// suits pieces of 32 KiB and more; WindowFor gives more for smaller
	// pieces. On the stack engine
	// (real nodes on simnet, 300 devices, 4 MiB in 32 KiB pieces) the
	// last device finished at 1.73-1.77x the Kumar-Ross bound with 6,
	// 1.80x with 8 and 1.89-1.95x with 4: a QUIC connection that carries
	// a 32 KiB block now and then is paced below the link rate (quic-go
	// sends at 1.25 x cwnd / smoothed RTT; measured there, a mean
	// smoothed RTT of 35 ms on 20 ms links and a third of the windows
	// under 40 kB), so more transfers at once keep links fuller. The
	// model engine, which has no pacing, prefers 4 (1.57x against
	// 1.66-1.70x with 6 on 1,000 devices); the stack runs the real code.
	// On the 30%-loss namespace fleet the slowest device took 94-160 s
	// with 4 and 164-188 s with 6, too spread to tell apart.
	Window int
	// Timeout: a request unanswered this long is given up, asked of
	// another neighbour, and the silent one is not asked again for
	// Backoff. Default 10s.
	Timeout time.Duration
	// Backoff: see Timeout. Default 10s.
	Backoff time.Duration
	// BusyBackoff: a neighbour that answered BUSY (its upload queue is
	// full) is not asked again for this long. Default 25ms, about two
	// 32 KiB pieces at 20 Mbit/s (10ms made no difference on 300 stack
	// devices: 1.74x the Kumar-Ross bound, against 1.75-1.77x).
	BusyBackoff time.Duration
	// Endgame: once every missing piece some neighbour has is asked for,
	// a piece asked for at least this long ago may be asked of one more
	// neighbour (the first to answer wins; the other is cancelled). This
	// is the only source of duplicates. Default 1s (EndgameFor gives less
	// for small pieces); negative turns the endgame off.
	Endgame time.Duration
	// OfferHolders and OfferFanout: a device that stores a piece at most
	// OfferHolders of its neighbours are known to hold (a seed counts as
	// holding every piece) offers it to up to OfferFanout neighbours that
	// are not known to hold it, those known to hold the fewest pieces
	// first (OfferTargets). A neighbour that lacks it and has asked no one
	// for it asks at once, beyond its window (Offered), and the uploader
	// serves that request before the others it has queued, never BUSY.
	// Fresh pieces then move one hop per round trip and block, without
	// waiting for a slot in the neighbour's window or the uploader's
	// queue. In the model engine (1,000 devices, 4 MiB in 32 KiB pieces,
	// three topologies) the last device finished at 1.44-1.46x the
	// Kumar-Ross bound with 2 and 2, against 1.66-1.72x without offers
	// (holders 1: 1.46-1.61x; fanout 1: 1.44-1.48x; fanout 3:
	// 1.53-1.57x); on the stack engine (300 devices) at 1.67-1.71x
	// against 1.75-1.77x (holders 3: 1.68x; holders 1: 1.71x; fanout 3:
	// 1.77x). Defaults 2 and 2; a negative OfferFanout turns offers off.
	OfferHolders int
	OfferFanout  int
}

// DefaultWindow is Config.Window's default, for pieces of 32 KiB and more.
const DefaultWindow = 6

// windowBytes and maxWindow bound WindowFor.
const (
	windowBytes = 160 << 10
	maxWindow   = 32
)

// WindowFor is the Window for pieces of size bytes: DefaultWindow for
// pieces of 32 KiB and more; smaller ones get as many as make about
// 160 KiB asked for at once (ten of 16 KiB), at most 32, since the
// device's downlink must stay busy across the same round trips whatever
// the piece size. On the stack engine (300 devices, 4 MiB in 16 KiB
// pieces) the last device finished at 1.58x the Kumar-Ross bound with 10,
// 1.63x with 12 and 1.76x with 6 (1.65-1.71x with 32 KiB pieces and 6).
func WindowFor(size int) int {
	if size <= 0 {
		return DefaultWindow
	}
	return min(maxWindow, max(DefaultWindow, windowBytes/size))
}

// EndgameFor is the Endgame wait for pieces of size bytes: 1s for pieces
// of 64 KiB and more, in proportion below that, at least 250ms (16 KiB:
// 250ms, 32 KiB: 500ms). A small piece asked for long ago is held up
// behind others, not slow on the wire: on the stack engine (300 devices,
// 4 MiB in 16 KiB pieces) the last device finished 0.08 s after the
// median with 250ms, 0.18 s with 1s (1.56x against 1.63x the Kumar-Ross
// bound), with no duplicates either way.
func EndgameFor(size int) time.Duration {
	if size <= 0 {
		return time.Second
	}
	return min(time.Second, max(250*time.Millisecond, time.Duration(size)*time.Second/(64<<10)))
}

// ConfigFor is DefaultConfig with the Window and Endgame for pieces of
// size bytes (WindowFor, EndgameFor).
func ConfigFor(size int) Config {
	c := DefaultConfig()
	c.Window = WindowFor(size)
	c.Endgame = EndgameFor(size)
	return c
}

// DefaultSoloPerPeer is Config.SoloPerPeer's default (an uploader serving
// one neighbour queues as many).
const DefaultSoloPerPeer = 8

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.PerPeer <= 0 {
		c.PerPeer = 2
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.SoloPerPeer <= 0 {
		c.SoloPerPeer = DefaultSoloPerPeer
	}
	if c.SoloMaxWait <= 0 {
		c.SoloMaxWait = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 10 * time.Second
	}
	if c.BusyBackoff <= 0 {
		c.BusyBackoff = 25 * time.Millisecond
	}
	if c.Endgame == 0 {
		c.Endgame = time.Second
	}
	if c.OfferHolders <= 0 {
		c.OfferHolders = 2
	}
	if c.OfferFanout == 0 {
		c.OfferFanout = 2
	}
	return c
}

// Request is one piece asked of one neighbour.
type Request struct {
	Peer  int32
	Piece int
}

type peerState struct {
	have    Bitfield
	asked   Bitfield // every piece ever asked of it
	offered Bitfield // pieces we offered it
	out     int
	avoid   time.Time
	// silent: until then its offers are declined (a request there timed
	// out; BUSY does not count, as an offered request is never BUSY).
	silent time.Time
	seed   bool // a super-seeding seed: asked only for what no device has
	// crowded: it answered BUSY to requests beyond PerPeer (it serves
	// others too); asked for PerPeer at most from then on.
	crowded bool
	// held: the count of pieces it last reported holding (SetHeld).
	held int
}

// Scheduler decides, for one device fetching one release of k pieces,
// which neighbour to ask for which piece. Neighbours are small integers
// the caller assigns. Not safe for concurrent use.
type Scheduler struct {
	cfg       Config
	k         int
	have      Bitfield
	nhave     int
	avail     []int32  // neighbours known to hold each piece
	requested Bitfield // pieces with a request outstanding
	doubled   Bitfield // pieces asked of a second neighbour (endgame)
	landed    Bitfield // pieces whose owner's copy arrived and awaits verification
	landed2   Bitfield // the same for the second neighbour's copy
	owner     []int32  // neighbour asked first, -1 none
	second    []int32  // neighbour asked in the endgame, -1 none
	askedAt   []int64  // when owner was asked, unix nanoseconds
	secondAt  []int64  // when second was asked
	peers     map[int32]*peerState
	ids       []int32 // sorted, for determinism
	out       int
	solo      bool // SetNeighbours(1)
	rng       *rand.Rand
	// waits: see Waits; held is what held the fetch back at observedAt
	// (unix nanoseconds), if observing (from the first Next until the
	// device holds every piece).
	waits      Waits
	held       waitKind
	observedAt int64
	observing  bool
}

// Waits is how long a fetch spent waiting, by what held it back, as the
// scheduler saw it after each Next: the three add up to the time from the
// first Next to the last (the last one made once the device holds every
// piece ends it). It tells a slow fetch's cause apart: a full window means
// the requests are out and the neighbours' uploads (or the links) set the
// pace; starved, that the neighbours hold nothing more the device needs
// yet; blocked, that they do, but may not be asked now.
type Waits struct {
	// Full: every request the device may have out (Config.Window) was out.
	Full time.Duration `json:"full_ns"`
	// Starved: no neighbour was known to hold a piece the device lacks
	// and has not asked for.
	Starved time.Duration `json:"starved_ns"`
	// Blocked: such pieces were only at neighbours the device may not ask
	// now: at their PerPeer limit, backed off (BUSY, a timeout), or a
	// seed holding pieces that devices nearby hold too.
	Blocked time.Duration `json:"blocked_ns"`
}

// Add returns w plus o.
func (w Waits) Add(o Waits) Waits {
	return Waits{Full: w.Full + o.Full, Starved: w.Starved + o.Starved, Blocked: w.Blocked + o.Blocked}
}

// Total is the time the three cover.
func (w Waits) Total() time.Duration { return w.Full + w.Starved + w.Blocked }

type waitKind uint8

const (
	waitFull waitKind = iota
	waitStarved
	waitBlocked
)

// Waits returns the time the fetch has spent full, starved and blocked
// (see the type).
func (s *Scheduler) Waits() Waits { return s.waits }

// observe adds the time since the last observation to what held the fetch
// back then; once the device holds every piece, it stops.
func (s *Scheduler) observe(now int64) {
	if s.observing && now > s.observedAt {
		d := time.Duration(now - s.observedAt)
		switch s.held {
		case waitFull:
			s.waits.Full += d
		case waitStarved:
			s.waits.Starved += d
		default:
			s.waits.Blocked += d
		}
	}
	s.observedAt, s.observing = now, s.nhave < s.k
}

// classify records what holds the fetch back after Next has asked for all
// it may: the window, or whether any neighbour holds a piece not yet asked
// for (Next would have asked for it if it could).
func (s *Scheduler) classify(window int) {
	if s.out >= window {
		s.held = waitFull
		return
	}
	s.held = waitStarved
	for _, p := range s.ids {
		have := s.peers[p].have
		for w := range s.have {
			if have[w]&^s.have[w]&^s.requested[w] != 0 {
				s.held = waitBlocked
				return
			}
		}
	}
}

// NewScheduler returns a scheduler for k pieces, of which the device holds
// have (nil: none).
func NewScheduler(k int, have Bitfield, cfg Config, rng *rand.Rand) *Scheduler {
	s := &Scheduler{cfg: cfg.withDefaults(), k: k, have: NewBitfield(k), avail: make([]int32, k),
		requested: NewBitfield(k), doubled: NewBitfield(k), landed: NewBitfield(k), landed2: NewBitfield(k), owner: make([]int32, k), second: make([]int32, k),
		askedAt: make([]int64, k), secondAt: make([]int64, k), peers: map[int32]*peerState{}, rng: rng}
	for i := range s.owner {
		s.owner[i], s.second[i] = -1, -1
	}
	if have != nil {
		for i := 0; i < k; i++ {
			if have.Has(i) {
				s.have.Set(i)
				s.nhave++
			}
		}
	}
	return s
}

// Pieces returns k.
func (s *Scheduler) Pieces() int { return s.k }

// Done reports whether the device holds every piece.
func (s *Scheduler) Done() bool { return s.nhave == s.k }

// Held returns the number of pieces the device holds.
func (s *Scheduler) Held() int { return s.nhave }

// Holds reports whether the device holds piece i.
func (s *Scheduler) Holds(i int) bool { return s.have.Has(i) }

// Have returns the device's own pieces (not a copy: do not modify).
func (s *Scheduler) Have() Bitfield { return s.have }

// Outstanding returns the number of requests outstanding.
func (s *Scheduler) Outstanding() int { return s.out }

// AddPeer adds neighbour p holding nothing yet. Adding twice is harmless.
func (s *Scheduler) AddPeer(p int32) {
	if _, ok := s.peers[p]; ok {
		return
	}
	s.peers[p] = &peerState{have: NewBitfield(s.k), asked: NewBitfield(s.k), offered: NewBitfield(s.k)}
	i, _ := slices.BinarySearch(s.ids, p)
	s.ids = slices.Insert(s.ids, i, p)
}

// RemovePeer forgets neighbour p; its outstanding requests are dropped
// (the pieces are asked of others at the next Next).
func (s *Scheduler) RemovePeer(p int32) {
	ps, ok := s.peers[p]
	if !ok {
		return
	}
	for i := 0; i < s.k; i++ {
		if ps.have.Has(i) {
			s.avail[i]--
		}
		s.drop(p, i)
	}
	delete(s.peers, p)
	if i, ok := slices.BinarySearch(s.ids, p); ok {
		s.ids = slices.Delete(s.ids, i, i+1)
	}
}

// SetHave replaces what neighbour p is known to hold (its bitfield).
func (s *Scheduler) SetHave(p int32, b Bitfield) {
	s.AddPeer(p)
	ps := s.peers[p]
	for i := 0; i < s.k; i++ {
		was, is := ps.have.Has(i), b.Has(i)
		switch {
		case is && !was:
			ps.have.Set(i)
			s.avail[i]++
		case was && !is:
			ps.have.Clear(i)
			s.avail[i]--
			s.drop(p, i)
		}
	}
}

// Announce records that neighbour p now holds piece i (its HAVE).
func (s *Scheduler) Announce(p int32, i int) {
	if i < 0 || i >= s.k {
		return
	}
	s.AddPeer(p)
	if ps := s.peers[p]; !ps.have.Has(i) {
		ps.have.Set(i)
		s.avail[i]++
	}
}

// SetNeighbours tells the scheduler how many neighbours the device has in
// all, whether or not they take part in this fetch: with one, that one is
// asked for up to SoloPerPeer pieces at a time.
func (s *Scheduler) SetNeighbours(n int) { s.solo = n == 1 }

// SetSeed marks neighbour p as a super-seeding seed (its BITFIELD says
// so). A seed is asked only for pieces no other neighbour holds: its
// upload goes to pieces that are new to the neighbourhood, and devices
// take the rest from one another (on 1,000 simulated devices the seed
// sent 1.7 times the file without this rule). A seed that is the only
// holder is still asked, so a device whose one neighbour is the seed gets
// everything.
func (s *Scheduler) SetSeed(p int32, seed bool) {
	s.AddPeer(p)
	s.peers[p].seed = seed
}

// Refused records that p does not hold piece i after all (a DONT_HAVE):
// a request for it there is dropped.
func (s *Scheduler) Refused(p int32, i int) {
	ps, ok := s.peers[p]
	if !ok || i < 0 || i >= s.k {
		return
	}
	if ps.have.Has(i) {
		ps.have.Clear(i)
		s.avail[i]--
	}
	s.drop(p, i)
}

// Busy records that p declined the request for piece i because its upload
// queue is full: the piece is asked of another holder, and p is not asked
// again for BusyBackoff.
func (s *Scheduler) Busy(p int32, i int, now time.Time) {
	ps, ok := s.peers[p]
	if !ok || i < 0 || i >= s.k {
		return
	}
	s.drop(p, i)
	if ps.out >= s.cfg.PerPeer {
		// Only the extra depth of a lone neighbour was refused.
		ps.crowded = true
		return
	}
	ps.avoid = now.Add(s.cfg.BusyBackoff)
}

// Solicited reports whether piece i was ever asked of p.
func (s *Scheduler) Solicited(p int32, i int) bool {
	ps, ok := s.peers[p]
	return ok && i >= 0 && i < s.k && ps.asked.Has(i)
}

// Received records piece i, verified and stored, from p (p may be -1: it
// came another way, such as bitswap). It reports whether the piece was new
// (false: a duplicate), and the requests for it at other neighbours, which
// the caller should cancel.
func (s *Scheduler) Received(p int32, i int) (fresh bool, cancel []Request) {
	if i < 0 || i >= s.k {
		return false, nil
	}
	if ps, ok := s.peers[p]; ok && !ps.have.Has(i) {
		ps.have.Set(i)
		s.avail[i]++
	}
	if s.have.Has(i) {
		s.drop(p, i)
		return false, nil
	}
	s.have.Set(i)
	s.nhave++
	for _, q := range [2]int32{s.owner[i], s.second[i]} {
		if q >= 0 && q != p {
			cancel = append(cancel, Request{Peer: q, Piece: i})
		}
		if q >= 0 {
			s.drop(q, i)
		}
	}
	return true, cancel
}

// Arrived records that p's copy of piece i is off the wire and being
// verified: p's slot (and the window's) is free for the next request at
// once, so a fast link does not idle while a block is hashed and stored,
// but the piece is asked of no one else. Received or, if the copy was bad,
// RemovePeer settles it.
func (s *Scheduler) Arrived(p int32, i int) {
	if p < 0 || i < 0 || i >= s.k {
		return
	}
	var l Bitfield
	switch p {
	case s.owner[i]:
		l = s.landed
	case s.second[i]:
		l = s.landed2
	default:
		return
	}
	if l.Has(i) {
		return
	}
	l.Set(i)
	s.out--
	if ps := s.peers[p]; ps != nil {
		ps.out--
	}
}

// drop removes p's outstanding request for piece i, if any.
func (s *Scheduler) drop(p int32, i int) {
	if p < 0 {
		return
	}
	ps := s.peers[p]
	var landed bool
	if s.owner[i] == p {
		landed = s.landed.Has(i)
		s.owner[i], s.askedAt[i] = s.second[i], s.secondAt[i]
		s.second[i] = -1
		s.doubled.Clear(i)
		s.landed.Clear(i)
		if s.landed2.Has(i) {
			s.landed2.Clear(i)
			s.landed.Set(i)
		}
		if s.owner[i] < 0 {
			s.requested.Clear(i)
		}
	} else if s.second[i] == p {
		landed = s.landed2.Has(i)
		s.second[i] = -1
		s.doubled.Clear(i)
		s.landed2.Clear(i)
	} else {
		return
	}
	if landed { // its slot was freed when it arrived
		return
	}
	s.out--
	if ps != nil {
		ps.out--
	}
}

// Expire gives up the requests asked at least Timeout before now: they are
// returned (to be cancelled), and their neighbours are not asked again for
// Backoff.
func (s *Scheduler) Expire(now time.Time) []Request {
	if s.out == 0 {
		return nil
	}
	limit := now.Add(-s.cfg.Timeout).UnixNano()
	var gone []Request
	for i := 0; i < s.k; i++ {
		if !s.requested.Has(i) {
			continue
		}
		if q := s.second[i]; q >= 0 && s.secondAt[i] <= limit && !s.landed2.Has(i) {
			gone = append(gone, Request{q, i})
		}
		if q := s.owner[i]; q >= 0 && s.askedAt[i] <= limit && !s.landed.Has(i) {
			gone = append(gone, Request{q, i})
		}
	}
	for _, r := range gone {
		s.drop(r.Peer, r.Piece)
		if ps := s.peers[r.Peer]; ps != nil {
			ps.avoid = now.Add(s.cfg.Backoff)
			ps.silent = ps.avoid
		}
	}
	return gone
}

// Next returns the requests to send now: for each neighbour with a free
// slot (taken in a random rotation), the rarest piece it holds that the
// device lacks and has not asked for, ties broken at random; failing that,
// in the endgame, the piece it holds that was asked of someone else
// longest ago. Each call also accounts the time since the last to what
// held the fetch back then (Waits).
func (s *Scheduler) Next(now time.Time) []Request {
	var out []Request
	n := len(s.ids)
	ns := now.UnixNano()
	s.observe(ns)
	if n == 0 || s.nhave == s.k {
		s.held = waitStarved
		return nil
	}
	// Pieces some device neighbour that is not backed off holds: seeds
	// are not asked for these.
	offered := NewBitfield(s.k)
	for _, ps := range s.peers {
		if !ps.seed && !now.Before(ps.avoid) {
			for w := range offered {
				offered[w] |= ps.have[w]
			}
		}
	}
	window, solo := s.cfg.Window, s.solo && n == 1
	if solo {
		window = max(window, s.cfg.SoloPerPeer)
		s.checkSlow(s.ids[0], ns)
	}
	for progress := true; progress && s.out < window; {
		progress = false
		start := s.rng.IntN(n)
		for x := 0; x < n && s.out < window; x++ {
			p := s.ids[(start+x)%n]
			ps := s.peers[p]
			perPeer := s.cfg.PerPeer
			if solo && !ps.crowded {
				perPeer = max(perPeer, s.cfg.SoloPerPeer)
			}
			if ps.out >= perPeer || now.Before(ps.avoid) {
				continue
			}
			i, endgame := s.pick(p, ps, ns, offered)
			if i < 0 {
				continue
			}
			if endgame {
				s.second[i], s.secondAt[i] = p, ns
				s.doubled.Set(i)
			} else {
				s.owner[i], s.askedAt[i] = p, ns
				s.requested.Set(i)
			}
			ps.out++
			ps.asked.Set(i)
			s.out++
			out = append(out, Request{Peer: p, Piece: i})
			progress = true
		}
	}
	s.classify(window)
	return out
}

// checkSlow marks lone neighbour p crowded once a request there has waited
// SoloMaxWait (now in unix nanoseconds).
func (s *Scheduler) checkSlow(p int32, now int64) {
	ps := s.peers[p]
	if ps.crowded || ps.out == 0 {
		return
	}
	limit := now - int64(s.cfg.SoloMaxWait)
	for i := 0; i < s.k; i++ {
		if s.owner[i] == p && s.requested.Has(i) && !s.landed.Has(i) && s.askedAt[i] < limit {
			ps.crowded = true
			return
		}
	}
}

func (s *Scheduler) pick(p int32, ps *peerState, now int64, offered Bitfield) (int, bool) {
	best, bestAvail, ties := -1, int32(math.MaxInt32), 0
	for w := range s.have {
		m := ps.have[w] &^ s.have[w] &^ s.requested[w]
		for m != 0 {
			b := bits.TrailingZeros64(m)
			m &= m - 1
			i := w*64 + b
			if ps.seed && offered.Has(i) {
				continue // a device we may ask has it: ask the device
			}
			switch a := s.avail[i]; {
			case a < bestAvail:
				best, bestAvail, ties = i, a, 1
			case a == bestAvail && !ps.seed:
				// A seed's pieces are shown to us alone, lowest
				// first (Reveal): take them in that order, so the
				// file is hashed as it arrives. Among a device's,
				// ties go to chance, so neighbours spread out.
				ties++
				if s.rng.IntN(ties) == 0 {
					best = i
				}
			}
		}
	}
	if best >= 0 || s.cfg.Endgame < 0 {
		return best, false
	}
	limit := now - int64(s.cfg.Endgame)
	oldest := int64(math.MaxInt64)
	for w := range s.have {
		m := ps.have[w] &^ s.have[w] & s.requested[w] &^ s.doubled[w] &^ s.landed[w]
		for m != 0 {
			b := bits.TrailingZeros64(m)
			m &= m - 1
			i := w*64 + b
			if s.owner[i] != p && s.askedAt[i] <= limit && s.askedAt[i] < oldest {
				best, oldest = i, s.askedAt[i]
			}
		}
	}
	return best, best >= 0
}

// NextEvent returns the next time after now when a request becomes due
// for the endgame or expires, or a neighbour's backoff ends, if any: the
// caller should call Expire and Next then, even if nothing else happens.
func (s *Scheduler) NextEvent(now time.Time) (time.Time, bool) {
	ns := now.UnixNano()
	first := int64(math.MaxInt64)
	later := func(t int64) {
		if t > ns && t < first {
			first = t
		}
	}
	if s.nhave < s.k {
		for _, ps := range s.peers {
			later(ps.avoid.UnixNano())
		}
	}
	for i := 0; s.out > 0 && i < s.k; i++ {
		if !s.requested.Has(i) {
			continue
		}
		if s.cfg.Endgame > 0 && !s.doubled.Has(i) {
			later(s.askedAt[i] + int64(s.cfg.Endgame))
		}
		later(s.askedAt[i] + int64(s.cfg.Timeout))
		if s.second[i] >= 0 {
			later(s.secondAt[i] + int64(s.cfg.Timeout))
		}
	}
	return time.Unix(0, first), first != math.MaxInt64
}

// SetHeld records that neighbour p reports holding n pieces. Neighbours do
// not announce pieces they know the device holds, so its bitfield of them
// undercounts those behind it.
func (s *Scheduler) SetHeld(p int32, n int) {
	if ps := s.peers[p]; ps != nil {
		ps.held = n
	}
}

// OfferTargets returns the neighbours to offer piece i to, just stored
// (see Config.OfferHolders): none once more than OfferHolders neighbours
// are known to hold it. Each neighbour is offered a piece once.
func (s *Scheduler) OfferTargets(i int) []int32 {
	if s.cfg.OfferFanout < 0 || i < 0 || i >= s.k || !s.have.Has(i) {
		return nil
	}
	holders := 0
	for _, p := range s.ids {
		if ps := s.peers[p]; ps.seed || ps.have.Has(i) {
			holders++
		}
	}
	if holders > s.cfg.OfferHolders {
		return nil
	}
	type cand struct {
		p    int32
		n    int
		roll uint32
	}
	var cs []cand
	for _, p := range s.ids {
		ps := s.peers[p]
		if ps.seed || ps.have.Has(i) || ps.offered.Has(i) {
			continue
		}
		cs = append(cs, cand{p, max(ps.have.Count(), ps.held), s.rng.Uint32()})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.n != b.n {
			return cmp.Compare(a.n, b.n)
		}
		return cmp.Compare(a.roll, b.roll)
	})
	var out []int32
	for _, c := range cs[:min(len(cs), s.cfg.OfferFanout)] {
		s.peers[c.p].offered.Set(i)
		out = append(out, c.p)
	}
	return out
}

// offerSlack is how many requests beyond PerPeer a neighbour's offers may
// have outstanding: a peer that offers every piece and sends none holds
// up this many until they time out (and it is backed off).
const offerSlack = 2

// Offered answers neighbour p's offer of piece i: true means ask p for it
// now. The device accepts when it lacks the piece, has asked no one for
// it, and p has let no request time out in the last Backoff and has fewer
// than PerPeer+2 requests outstanding. The request counts as outstanding
// at p, beyond Window (p serves it first). An offer also says that p
// holds i.
func (s *Scheduler) Offered(p int32, i int, now time.Time) bool {
	if i < 0 || i >= s.k {
		return false
	}
	s.Announce(p, i)
	ps := s.peers[p]
	if s.have.Has(i) || s.requested.Has(i) || now.Before(ps.silent) || ps.out >= s.cfg.PerPeer+offerSlack {
		return false
	}
	s.owner[i], s.askedAt[i] = p, now.UnixNano()
	s.requested.Set(i)
	ps.out++
	ps.asked.Set(i)
	s.out++
	return true
}
