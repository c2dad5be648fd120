package model

import (
	"math"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// maxSteps bounds the upload series the result carries.
const maxSteps = 600

// series accumulates upload bytes in fine bins of b0 seconds (a power of
// ten, 10 ms unless the horizon is very long); finish regroups them into at
// most maxSteps steps of a round size.
type series struct {
	b0         float64
	seed, peer []float64
}

func (s *series) init(horizon float64) {
	s.b0 = 0.01
	if horizon/s.b0 > 1e5 {
		s.b0 = math.Pow(10, math.Ceil(math.Log10(horizon/1e5)))
	}
	n := int(horizon/s.b0) + 2
	s.seed = make([]float64, n)
	s.peer = make([]float64, n)
}

// add spreads size bytes sent between t0 and t1 over the bins.
func (s *series) add(seed bool, t0, t1, size float64) {
	arr := s.peer
	if seed {
		arr = s.seed
	}
	i0 := int(t0 / s.b0)
	i1 := int(t1 / s.b0)
	if i0 >= len(arr) || i0 < 0 {
		return
	}
	if i1 <= i0 || t1 <= t0 {
		arr[i0] += size
		return
	}
	rate := size / (t1 - t0)
	for i := i0; i <= i1 && i < len(arr); i++ {
		lo := max(t0, float64(i)*s.b0)
		hi := min(t1, float64(i+1)*s.b0)
		if hi > lo {
			arr[i] += float64(rate * (hi - lo))
		}
	}
}

// finish returns the series up to end in steps of 0.1 s, or the smallest
// 1-2-5 step over that keeping at most maxSteps steps.
func (s *series) finish(end float64) scenario.Series {
	var step float64
	for i := 0; ; i++ {
		step = float64([3]int{1, 2, 5}[i%3]) * math.Pow(10, float64(i/3-1))
		if step+1e-12 >= s.b0 && step*maxSteps+1e-9 >= end {
			break
		}
	}
	per := max(1, int(math.Round(step/s.b0)))
	n := max(1, int(math.Ceil(end/step-1e-9)))
	out := scenario.Series{StepS: scenario.Round(step), Seed: make([]float64, n), Peers: make([]float64, n)}
	for i := range n {
		var a, b float64
		for j := i * per; j < (i+1)*per && j < len(s.seed); j++ {
			a += s.seed[j]
			b += s.peer[j]
		}
		out.Seed[i] = scenario.Round(a / step)
		out.Peers[i] = scenario.Round(b / step)
	}
	return out
}
