package swarm

import (
	"math"
	"math/rand/v2"
)

// RevealAhead is how many pieces a seed keeps shown to each neighbour
// beyond those it has sent it: one to ask for, and one more so that a
// neighbour that got the first elsewhere still has something to ask for.
const RevealAhead = 2

// SoloRevealAhead is the window for a neighbour that is the only one the
// seed serves the release to: there is no one else to keep pieces distinct
// for, and a window of two would make every piece wait for the HAVE of the
// one before it (on a fast single link that halved the throughput).
const SoloRevealAhead = 16

// RevealWindow is how many pieces a seed keeps shown to each neighbour
// when it has this many neighbours.
func RevealWindow(neighbours int) int {
	if neighbours <= 1 {
		return SoloRevealAhead
	}
	return RevealAhead
}

// Reveal is the seed's super-seeding decision for one release: instead of
// its whole bitfield, the seed shows each neighbour a few pieces at a time,
// those shown fewest times so far. Its upload then goes to distinct pieces
// — every piece leaves the seed once before any leaves twice — and the
// devices fetch the rest from one another. Not safe for concurrent use.
type Reveal struct {
	shown []int32
}

// NewReveal returns a reveal for k pieces.
func NewReveal(k int) *Reveal { return &Reveal{shown: make([]int32, k)} }

// Pick returns up to n pieces to show a neighbour: the least shown so far
// among those not in exclude (already shown to it, or held by it), ties
// broken by rng, or with rng nil by the lowest index — in file order, so a
// device fetching from the seed alone gets the pieces in order and hashes
// the file as they arrive (content.PieceFile). Every piece still leaves
// the seed once before any leaves twice either way. It counts them as
// shown and adds them to exclude.
func (r *Reveal) Pick(exclude Bitfield, n int, rng *rand.Rand) []int {
	var out []int
	for len(out) < n {
		best, low, ties := -1, int32(math.MaxInt32), 0
		for i, c := range r.shown {
			if exclude.Has(i) {
				continue
			}
			switch {
			case c < low:
				best, low, ties = i, c, 1
			case c == low && rng != nil:
				ties++
				if rng.IntN(ties) == 0 {
					best = i
				}
			}
		}
		if best < 0 {
			break
		}
		r.shown[best]++
		exclude.Set(best)
		out = append(out, best)
	}
	return out
}
