package swarm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// bf returns a bitfield of k pieces holding those listed.
func bf(k int, pieces ...int) Bitfield {
	b := NewBitfield(k)
	for _, i := range pieces {
		b.Set(i)
	}
	return b
}

func full(k int) Bitfield {
	b := NewBitfield(k)
	for i := 0; i < k; i++ {
		b.Set(i)
	}
	return b
}

func TestBitfieldRoundTrip(t *testing.T) {
	for _, k := range []int{1, 7, 8, 63, 64, 65, 200} {
		b := NewBitfield(k)
		for i := 0; i < k; i += 3 {
			b.Set(i)
		}
		got, err := ParseBitfield(b.Bytes(k), k)
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		for i := 0; i < k; i++ {
			if got.Has(i) != (i%3 == 0) {
				t.Fatalf("k=%d: bit %d wrong", k, i)
			}
		}
	}
	if _, err := ParseBitfield([]byte{0xff}, 3); err == nil {
		t.Fatal("bits past the last piece accepted")
	}
	if _, err := ParseBitfield([]byte{1, 2}, 3); err == nil {
		t.Fatal("wrong length accepted")
	}
}

func TestRarestFirstAndPerPeerLimit(t *testing.T) {
	s := NewScheduler(4, nil, Config{PerPeer: 1, Endgame: -1}, rng(1))
	s.SetHave(1, full(4))
	s.SetHave(2, bf(4, 0, 1, 2))
	s.SetHave(3, bf(4, 0, 1))
	reqs := s.Next(time.Unix(0, 0))
	if len(reqs) != 3 {
		t.Fatalf("want one request per peer, got %v", reqs)
	}
	got := map[int32]int{}
	for _, r := range reqs {
		got[r.Peer] = r.Piece
	}
	if got[1] != 3 {
		t.Fatalf("peer 1 should be asked for piece 3, the only one held by one peer; got %v", reqs)
	}
	if got[2] != 2 {
		t.Fatalf("peer 2 should be asked for piece 2 (held by two), got %v", reqs)
	}
	if more := s.Next(time.Unix(0, 0)); len(more) != 0 {
		t.Fatalf("per-peer limit ignored: %v", more)
	}
}

func TestNoPieceAskedTwiceOutsideEndgame(t *testing.T) {
	s := NewScheduler(8, nil, Config{PerPeer: 8, Window: 64, Endgame: -1}, rng(2))
	for p := int32(0); p < 5; p++ {
		s.SetHave(p, full(8))
	}
	seen := map[int]bool{}
	for _, r := range s.Next(time.Unix(0, 0)) {
		if seen[r.Piece] {
			t.Fatalf("piece %d asked twice", r.Piece)
		}
		seen[r.Piece] = true
	}
	if len(seen) != 8 {
		t.Fatalf("asked for %d pieces, want 8", len(seen))
	}
}

func TestEndgameAndCancel(t *testing.T) {
	s := NewScheduler(1, nil, Config{Endgame: time.Second}, rng(3))
	s.SetHave(1, full(1))
	s.SetHave(2, full(1))
	t0 := time.Unix(100, 0)
	first := s.Next(t0)
	if len(first) != 1 {
		t.Fatalf("got %v", first)
	}
	if r := s.Next(t0.Add(500 * time.Millisecond)); len(r) != 0 {
		t.Fatalf("endgame before its delay: %v", r)
	}
	if at, ok := s.NextEvent(t0); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextEvent = %v %v", at, ok)
	}
	second := s.Next(t0.Add(time.Second))
	if len(second) != 1 || second[0].Peer == first[0].Peer {
		t.Fatalf("endgame should ask the other peer, got %v after %v", second, first)
	}
	fresh, cancel := s.Received(second[0].Peer, 0)
	if !fresh || len(cancel) != 1 || cancel[0].Peer != first[0].Peer {
		t.Fatalf("received: fresh %v cancel %v", fresh, cancel)
	}
	if s.Outstanding() != 0 || !s.Done() {
		t.Fatalf("outstanding %d done %v", s.Outstanding(), s.Done())
	}
	if fresh, _ := s.Received(first[0].Peer, 0); fresh {
		t.Fatal("a second copy counted as new")
	}
}

func TestExpireBacksOff(t *testing.T) {
	s := NewScheduler(2, nil, Config{PerPeer: 2, Timeout: time.Second, Backoff: 5 * time.Second, Endgame: -1}, rng(4))
	s.SetHave(1, full(2))
	t0 := time.Unix(0, 0)
	if r := s.Next(t0); len(r) != 2 {
		t.Fatalf("got %v", r)
	}
	if g := s.Expire(t0.Add(999 * time.Millisecond)); len(g) != 0 {
		t.Fatalf("expired early: %v", g)
	}
	if g := s.Expire(t0.Add(time.Second)); len(g) != 2 {
		t.Fatalf("expired %v", g)
	}
	if r := s.Next(t0.Add(2 * time.Second)); len(r) != 0 {
		t.Fatalf("silent peer asked again during backoff: %v", r)
	}
	s.SetHave(2, full(2))
	if r := s.Next(t0.Add(2 * time.Second)); len(r) != 2 || r[0].Peer != 2 {
		t.Fatalf("other peer not asked: %v", r)
	}
	if r := s.Next(t0.Add(7 * time.Second)); len(r) != 0 {
		t.Fatalf("pieces in flight asked again: %v", r)
	}
}

func TestRefusedAndRemovePeer(t *testing.T) {
	s := NewScheduler(1, nil, Config{Endgame: -1}, rng(5))
	s.SetHave(1, full(1))
	r := s.Next(time.Unix(0, 0))
	s.Refused(1, r[0].Piece)
	if s.Outstanding() != 0 {
		t.Fatal("refused request still outstanding")
	}
	if r := s.Next(time.Unix(0, 0)); len(r) != 0 {
		t.Fatalf("asked a peer that refused: %v", r)
	}
	s.SetHave(2, full(1))
	if r := s.Next(time.Unix(0, 0)); len(r) != 1 || r[0].Peer != 2 {
		t.Fatalf("got %v", r)
	}
	s.RemovePeer(2)
	if s.Outstanding() != 0 {
		t.Fatal("request to a removed peer still outstanding")
	}
}

func TestResumeAsksOnlyMissing(t *testing.T) {
	have := full(10)
	have.Clear(4)
	have.Clear(7)
	s := NewScheduler(10, have, Config{PerPeer: 10, Endgame: -1}, rng(6))
	s.SetHave(1, full(10))
	r := s.Next(time.Unix(0, 0))
	if len(r) != 2 || r[0].Piece+r[1].Piece != 11 {
		t.Fatalf("got %v", r)
	}
}

func TestRevealSpreadsDistinctPieces(t *testing.T) {
	const k = 16
	rv := NewReveal(k)
	seen := map[int]int{}
	for p := 0; p < 8; p++ {
		for _, i := range rv.Pick(NewBitfield(k), 2, rng(uint64(p))) {
			seen[i]++
		}
	}
	if len(seen) != k {
		t.Fatalf("8 peers x 2 should see all %d pieces once, saw %v", k, seen)
	}
	ex := full(k)
	ex.Clear(3)
	if got := rv.Pick(ex, 2, rng(9)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("got %v", got)
	}
}

// TestSwarmConverges runs the scheduler and reveal as a tiny round-based
// swarm: every device finishes, the seed sends each piece about once
// before any twice, and no piece is received twice.
func TestSwarmConverges(t *testing.T) {
	const k, n = 32, 40
	r := rng(7)
	adj := make([][]int32, n+1) // 0 is the seed
	for i := 1; i <= n; i++ {
		for _, j := range []int{(i + 1) % (n + 1), (i + 7) % (n + 1)} {
			adj[i] = append(adj[i], int32(j))
			adj[j] = append(adj[j], int32(i))
		}
	}
	sched := make([]*Scheduler, n+1)
	for i := 1; i <= n; i++ {
		sched[i] = NewScheduler(k, nil, Config{}, rng(uint64(i)))
	}
	rv := NewReveal(k)
	shown := map[int32]Bitfield{}
	seedSent, dups := 0, 0
	queue := make([][][2]int, n+1)
	now := time.Unix(0, 0)
	for round := 0; round < 200; round++ {
		now = now.Add(100 * time.Millisecond)
		for i := 1; i <= n; i++ {
			for _, q := range adj[i] {
				if q == 0 {
					sh := shown[int32(i)]
					if sh == nil {
						sh = NewBitfield(k)
						shown[int32(i)] = sh
					}
					ex := sh.Clone()
					for w := range ex {
						ex[w] |= sched[i].Have()[w]
					}
					if unsent := sh.Count() - countAnd(sh, sched[i].Have()); unsent < RevealAhead {
						for _, p := range rv.Pick(ex, RevealAhead-unsent, r) {
							sh.Set(p)
						}
					}
					sched[i].SetHave(0, sh)
				} else {
					sched[i].SetHave(q, sched[q].Have().Clone())
				}
			}
		}
		// Requests queue at the neighbour asked; each node sends one
		// piece per round (its upload), first come first served.
		for i := 1; i <= n; i++ {
			for _, req := range sched[i].Next(now) {
				queue[req.Peer] = append(queue[req.Peer], [2]int{i, req.Piece})
			}
		}
		for q := range queue {
			if len(queue[q]) == 0 {
				continue
			}
			req := queue[q][0]
			queue[q] = queue[q][1:]
			if q == 0 {
				seedSent++
			}
			if fresh, _ := sched[req[0]].Received(int32(q), req[1]); !fresh {
				dups++
			}
		}
	}
	for i := 1; i <= n; i++ {
		if !sched[i].Done() {
			t.Fatalf("device %d has %d of %d pieces", i, sched[i].Held(), k)
		}
	}
	if dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
	if seedSent > 2*k {
		t.Fatalf("seed sent %d pieces, more than twice the file (%d)", seedSent, k)
	}
}

func countAnd(a, b Bitfield) int {
	n := 0
	for i := range a {
		x := a[i] & b[i]
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// TestArrivedFreesTheSlotNotThePiece: a copy off the wire frees its
// neighbour's slot for the next request while it is verified, but its
// piece is asked of nobody else; a bad copy (the neighbour removed) puts
// the piece back, and the counts never go below zero.
func TestArrivedFreesTheSlotNotThePiece(t *testing.T) {
	now := time.Unix(0, 0)
	s := NewScheduler(4, nil, Config{PerPeer: 1, Window: 1, Endgame: -1}, rng(1))
	s.SetHave(1, full(4))
	s.SetHave(2, full(4))
	first := s.Next(now)
	if len(first) != 1 || s.Next(now) != nil {
		t.Fatalf("window 1: got %v then more", first)
	}
	p, i := first[0].Peer, first[0].Piece
	s.Arrived(p, i)
	s.Arrived(p, i) // twice is once
	if s.Outstanding() != 0 {
		t.Fatalf("outstanding %d after arrival, want 0", s.Outstanding())
	}
	second := s.Next(now)
	if len(second) != 1 || second[0].Piece == i {
		t.Fatalf("after arrival: got %v, want one request for another piece", second)
	}
	if gone := s.Expire(now.Add(time.Hour)); len(gone) != 1 || gone[0].Piece == i {
		t.Fatalf("expire: got %v, want only the unarrived request", gone)
	}
	// The copy of i was bad: its sender is removed, i is asked again.
	s.RemovePeer(p)
	if s.Outstanding() != 0 || s.requested.Has(i) {
		t.Fatalf("outstanding %d, piece %d still held by the removed sender: %v", s.Outstanding(), i, s.requested.Has(i))
	}
	again := s.Next(now.Add(2 * time.Hour)) // past the expired one's backoff
	if len(again) != 1 || again[0].Peer == p {
		t.Fatalf("after removing the sender: got %v", again)
	}
	// A good copy: Received settles it without a second decrement.
	q, j := again[0].Peer, again[0].Piece
	s.Arrived(q, j)
	if fresh, cancel := s.Received(q, j); !fresh || len(cancel) != 0 || s.Outstanding() != 0 {
		t.Fatalf("received: fresh %v cancel %v outstanding %d", fresh, cancel, s.Outstanding())
	}
}

// TestSeedAskedLast: a super-seeding seed is asked only for pieces no
// device neighbour it may ask holds; a busy device neighbour lets the seed
// be asked.
func TestSeedAskedLast(t *testing.T) {
	now := time.Unix(0, 0)
	s := NewScheduler(2, nil, Config{PerPeer: 2, Window: 4, Endgame: -1}, rng(1))
	s.SetSeed(1, true)
	s.SetHave(1, full(2))
	dev := NewBitfield(2)
	dev.Set(0)
	s.SetHave(2, dev)
	got := map[Request]bool{}
	for _, r := range s.Next(now) {
		got[r] = true
	}
	if len(got) != 2 || !got[Request{2, 0}] || !got[Request{1, 1}] {
		t.Fatalf("got %v, want piece 0 from the device and piece 1 from the seed", got)
	}
	// The device turns piece 0 away (BUSY): the seed may be asked for it.
	s.Busy(2, 0, now)
	if r := s.Next(now); len(r) != 1 || r[0] != (Request{1, 0}) {
		t.Fatalf("after BUSY: got %v, want piece 0 from the seed", r)
	}
}

// TestRevealInFileOrder: without rng, a seed shows the least shown pieces
// lowest first, so one device alone gets the file in order; a second
// device is shown the next distinct ones. A lone neighbour gets the wide
// window.
func TestRevealInFileOrder(t *testing.T) {
	rv := NewReveal(8)
	a := rv.Pick(NewBitfield(8), 3, nil)
	b := rv.Pick(NewBitfield(8), 3, nil)
	if fmt.Sprint(a) != "[0 1 2]" || fmt.Sprint(b) != "[3 4 5]" {
		t.Fatalf("shown %v then %v", a, b)
	}
	if RevealWindow(1) != SoloRevealAhead || RevealWindow(2) != RevealAhead || SoloRevealAhead <= RevealAhead {
		t.Fatalf("windows %d, %d", RevealWindow(1), RevealWindow(2))
	}
}

// TestSoloPipeline: a device whose one neighbour is its only one asks it
// for SoloPerPeer pieces at a time, a seed's lowest first; BUSY to that
// extra depth brings it back to PerPeer without backing off. With more
// neighbours in all, PerPeer holds.
func TestSoloPipeline(t *testing.T) {
	now := time.Unix(0, 0)
	s := NewScheduler(32, nil, Config{}, rng(2))
	s.SetNeighbours(1)
	s.SetSeed(1, true)
	s.SetHave(1, full(32))
	reqs := s.Next(now)
	if len(reqs) != DefaultConfig().SoloPerPeer {
		t.Fatalf("lone neighbour asked for %d pieces, want %d", len(reqs), DefaultConfig().SoloPerPeer)
	}
	for j, r := range reqs {
		if r.Piece != j {
			t.Fatalf("a seed's pieces not asked lowest first: %v", reqs)
		}
	}
	s.Busy(1, reqs[7].Piece, now)
	s.Busy(1, reqs[6].Piece, now)
	if more := s.Next(now); len(more) != 0 {
		t.Fatalf("asked again past the depth it refused: %v", more)
	}
	for _, r := range reqs[:5] {
		s.Received(1, r.Piece)
	}
	if more := s.Next(now); len(more) != 1 {
		t.Fatalf("crowded neighbour: %d new requests with 1 of %d slots free, want 1", len(more), DefaultConfig().PerPeer)
	}

	// A slow lone neighbour: once a request has waited SoloMaxWait it is
	// asked for PerPeer only.
	s = NewScheduler(32, nil, Config{}, rng(4))
	s.SetNeighbours(1)
	s.SetHave(1, full(32))
	reqs = s.Next(now)
	later := now.Add(DefaultConfig().SoloMaxWait + time.Millisecond)
	for _, r := range reqs[:7] {
		s.Received(1, r.Piece)
	}
	if more := s.Next(later); len(more) != DefaultConfig().PerPeer-1 {
		t.Fatalf("slow lone neighbour: %d new requests, want %d", len(more), DefaultConfig().PerPeer-1)
	}

	s = NewScheduler(32, nil, Config{}, rng(3))
	s.SetNeighbours(3)
	s.SetHave(1, full(32))
	if reqs := s.Next(now); len(reqs) != DefaultConfig().PerPeer {
		t.Fatalf("one of three neighbours asked for %d pieces, want %d", len(reqs), DefaultConfig().PerPeer)
	}
}

func TestOfferTargetsFreshPiecesToTheFurthestBehind(t *testing.T) {
	s := NewScheduler(8, nil, Config{}, rng(7))
	// Neighbours 1-3 hold 3, 1 and 0 pieces (none holds piece 5);
	// neighbour 4 holds piece 5.
	s.SetHave(1, bf(8, 0, 1, 2))
	s.SetHave(2, bf(8, 0))
	s.SetHave(3, bf(8))
	s.SetHave(4, bf(8, 5))
	if got := s.OfferTargets(5); got != nil {
		t.Fatalf("offered a piece the device does not hold: %v", got)
	}
	s.Received(4, 5)
	got := s.OfferTargets(5)
	if len(got) != 2 || got[0] != 3 || got[1] != 2 {
		t.Fatalf("want piece 5 offered to 3 then 2 (fewest pieces first), got %v", got)
	}
	if again := s.OfferTargets(5); len(again) != 1 || again[0] != 1 {
		t.Fatalf("a neighbour was offered the same piece twice, or the last one skipped: %v", again)
	}
	// Three holders (one of them a seed, which holds everything) are more
	// than OfferHolders: the piece is no longer fresh.
	s.Announce(1, 6)
	s.Announce(2, 6)
	s.SetSeed(9, true)
	s.Received(1, 6)
	if got := s.OfferTargets(6); got != nil {
		t.Fatalf("offered a piece three neighbours hold: %v", got)
	}
	off := NewScheduler(8, nil, Config{OfferFanout: -1}, rng(7))
	off.SetHave(1, NewBitfield(8))
	off.Received(-1, 0)
	if got := off.OfferTargets(0); got != nil {
		t.Fatalf("offers turned off, still offered: %v", got)
	}
}

// TestOfferTargetsByReportedCount: a neighbour's reported count of pieces
// (SetHeld) ranks it when its announcements undercount it (neighbours do
// not announce what they know the device holds).
func TestOfferTargetsByReportedCount(t *testing.T) {
	s := NewScheduler(8, nil, Config{OfferFanout: 1}, rng(7))
	s.SetHave(1, bf(8, 0, 1))
	s.SetHave(2, bf(8))
	s.SetHave(3, bf(8, 0))
	s.SetHeld(2, 6) // announced nothing, holds six
	s.SetHeld(9, 1) // not a neighbour: ignored
	s.Received(-1, 5)
	if got := s.OfferTargets(5); len(got) != 1 || got[0] != 3 {
		t.Fatalf("want piece 5 offered to 3 (one piece), not 2 (six reported), got %v", got)
	}
	s.SetHeld(1, 0) // a lower report does not hide announced pieces
	if got := s.OfferTargets(5); len(got) != 1 || got[0] != 1 {
		t.Fatalf("want piece 5 next offered to 1 (two announced), got %v", got)
	}
}

func TestOfferedAskedOnceBeyondTheWindow(t *testing.T) {
	now := time.Unix(0, 0)
	s := NewScheduler(8, nil, Config{PerPeer: 1, Window: 1, Endgame: -1}, rng(8))
	s.SetHave(1, full(8))
	if reqs := s.Next(now); len(reqs) != 1 {
		t.Fatalf("want one request, got %v", reqs)
	}
	// The window is full, yet an offer of a piece asked of no one is taken.
	if !s.Offered(2, 7, now) {
		t.Fatal("offer of a missing piece declined")
	}
	if s.Outstanding() != 2 {
		t.Fatalf("accepted offer not counted outstanding: %d", s.Outstanding())
	}
	if s.Offered(3, 7, now) {
		t.Fatal("a second offer of a piece already asked for was taken: a duplicate")
	}
	if !s.Solicited(2, 7) {
		t.Fatal("accepted offer not recorded as asked of its sender")
	}
	fresh, cancel := s.Received(2, 7)
	if !fresh || len(cancel) != 0 || s.Outstanding() != 1 {
		t.Fatalf("received offered piece: fresh %v cancel %v outstanding %d", fresh, cancel, s.Outstanding())
	}
	if s.Offered(2, 7, now) {
		t.Fatal("offer of a held piece taken")
	}
	// A declined offer still says the neighbour holds the piece: when
	// the neighbour first asked goes away, the piece is asked of it.
	s2 := NewScheduler(8, nil, Config{Endgame: -1}, rng(9))
	s2.SetHave(1, bf(8, 4))
	if reqs := s2.Next(now); len(reqs) != 1 || reqs[0] != (Request{1, 4}) {
		t.Fatalf("want piece 4 asked of 1, got %v", reqs)
	}
	if s2.Offered(3, 4, now) {
		t.Fatal("offer of a piece asked of another taken")
	}
	s2.RemovePeer(1)
	if reqs := s2.Next(now); len(reqs) != 1 || reqs[0] != (Request{3, 4}) {
		t.Fatalf("want piece 4 asked of the neighbour that offered it, got %v", reqs)
	}
	if s.Offered(2, 99, now) || s.Offered(2, -1, now) {
		t.Fatal("offer of a piece out of range taken")
	}
}

// TestOffersFromOneNeighbourBounded: a neighbour that offers every piece
// (and, say, sends none) gets at most PerPeer+2 of them asked of it, and
// none once it is backed off for letting requests time out.
func TestOffersFromOneNeighbourBounded(t *testing.T) {
	now := time.Unix(0, 0)
	s := NewScheduler(32, nil, Config{PerPeer: 2, Timeout: time.Second, Backoff: time.Minute, Endgame: -1}, rng(10))
	taken := 0
	for i := 0; i < 32; i++ {
		if s.Offered(5, i, now) {
			taken++
		}
	}
	if taken != 2+offerSlack {
		t.Fatalf("took %d offers from one neighbour, want %d", taken, 2+offerSlack)
	}
	later := now.Add(2 * time.Second)
	if gone := s.Expire(later); len(gone) != taken {
		t.Fatalf("want the %d offered requests expired, got %v", taken, gone)
	}
	for i := 0; i < 32; i++ {
		if s.Offered(5, i, later) {
			t.Fatalf("offer of piece %d taken from a backed-off neighbour", i)
		}
	}
	// Another neighbour's offers are still taken.
	if !s.Offered(6, 0, later) {
		t.Fatal("offer from a fresh neighbour declined")
	}
}

// TestConfigForPieceSize: six asked at once for pieces of 32 KiB and more; smaller
// pieces keep about 160 KiB asked for, at most 32; the endgame waits 1s
// for pieces of 64 KiB and more, less for smaller ones, at least 250ms;
// ConfigFor changes only those two.
func TestConfigForPieceSize(t *testing.T) {
	for _, c := range []struct{ size, want int }{{0, 6}, {1 << 10, 32}, {8 << 10, 20}, {16 << 10, 10}, {32 << 10, 6}, {256 << 10, 6}} {
		if got := WindowFor(c.size); got != c.want {
			t.Errorf("WindowFor(%d) = %d, want %d", c.size, got, c.want)
		}
	}
	for _, c := range []struct {
		size int
		want time.Duration
	}{{0, time.Second}, {8 << 10, 250 * time.Millisecond}, {16 << 10, 250 * time.Millisecond}, {32 << 10, 500 * time.Millisecond}, {64 << 10, time.Second}, {256 << 10, time.Second}} {
		if got := EndgameFor(c.size); got != c.want {
			t.Errorf("EndgameFor(%d) = %v, want %v", c.size, got, c.want)
		}
	}
	got, want := ConfigFor(16<<10), DefaultConfig()
	if got.Window != 10 || got.Endgame != 250*time.Millisecond {
		t.Errorf("ConfigFor(16 KiB): window %d, endgame %v; want 10, 250ms", got.Window, got.Endgame)
	}
	if c := ConfigFor(256 << 10); c != want {
		t.Errorf("ConfigFor(256 KiB) = %+v, want the defaults %+v", c, want)
	}
	got.Window, got.Endgame = want.Window, want.Endgame
	if got != want {
		t.Errorf("ConfigFor changed more than the window and endgame: %+v against %+v", got, want)
	}
}

// TestWaitsTellFullStarvedAndBlockedApart walks one fetch through the three
// states and checks each interval lands where it should, and that the
// accounting stops once the device holds everything.
func TestWaitsTellFullStarvedAndBlockedApart(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, int64(ms)*int64(time.Millisecond)) } // from the epoch: zero is a time like any other
	s := NewScheduler(4, nil, Config{PerPeer: 1, Window: 2, Endgame: -1}, rng(1))
	s.SetNeighbours(3)

	// 0-10 ms: no neighbour holds anything: starved.
	s.SetHave(1, NewBitfield(4))
	s.SetHave(2, NewBitfield(4))
	if r := s.Next(at(0)); len(r) != 0 {
		t.Fatalf("asked %v of neighbours holding nothing", r)
	}
	// 10-30 ms: both hold pieces; one request each fills the window.
	s.SetHave(1, bf(4, 0, 1))
	s.SetHave(2, bf(4, 2))
	r := s.Next(at(10))
	if len(r) != 2 {
		t.Fatalf("want two requests, got %v", r)
	}
	first := -1
	for _, x := range r {
		if x.Peer == 1 {
			first = x.Piece
		}
	}
	if first != 0 && first != 1 {
		t.Fatalf("neighbour 1 asked for %d, which it does not hold", first)
	}
	// 30-70 ms: piece 2 came; neighbour 1 still holds a piece not asked
	// for, but it is at its PerPeer limit: blocked.
	s.Received(2, 2)
	if r := s.Next(at(30)); len(r) != 0 {
		t.Fatalf("asked %v beyond PerPeer", r)
	}
	// 70-100 ms: neighbour 1's piece came; its other piece is asked for
	// and nobody holds piece 3: starved, one request out.
	s.Received(1, first)
	if r := s.Next(at(70)); len(r) != 1 {
		t.Fatalf("want the other piece asked for, got %v", r)
	}
	// 100 ms: the rest arrive; the fetch is done and the clock stops.
	s.Received(1, 1-first)
	s.Received(2, 3)
	s.Next(at(100))
	s.Next(at(500))

	want := Waits{Full: 20 * time.Millisecond, Starved: 40 * time.Millisecond, Blocked: 40 * time.Millisecond}
	if got := s.Waits(); got != want {
		t.Fatalf("waits %+v, want %+v", got, want)
	}
	if got := s.Waits().Add(want).Total(); got != 200*time.Millisecond {
		t.Fatalf("Add/Total: %v", got)
	}
}
