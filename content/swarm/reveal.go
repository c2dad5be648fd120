package swarm

import (
	"math"
	"math/rand/v2"
)

// RevealAhead is how many pieces a seed keeps shown to each neighbour
// beyond those it has sent it: one to ask for, and one more so that a
// neighbour that got the first elsewhere still has something to ask for.
const RevealAhead = 2

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
// broken by rng. It counts them as shown and adds them to exclude.
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
			case c == low:
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
