package balancer

import "math"

// Set is what a policy picks from: one snapshot's pickable endpoints and,
// only when they do not all weigh the same, their weights. It is built once
// per snapshot, off the request path, and never modified afterwards.
//
// Weights is nil in the common case (no Consul weights, no endpoint in its
// slow-start window): every policy then takes its unweighted code path,
// which costs exactly what it did before weights existed. docs/balancing.md
// describes what each policy does with weights.
type Set struct {
	// Endpoints are the endpoints a request may go to.
	Endpoints []*Endpoint
	// Weights are the endpoints' relative shares (> 0), index for index;
	// nil when they are all equal.
	Weights []float64
	// cum[i] is Weights[0] + … + Weights[i], for the weighted draws'
	// binary search; nil with Weights.
	cum []float64
}

// NewSet builds the set of eps. weights is nil or holds one weight per
// endpoint; a weight that is not a finite number > 0 counts as 1. Weights
// that are all equal are dropped: equal shares are the unweighted case.
func NewSet(eps []*Endpoint, weights []float64) Set {
	s := Set{Endpoints: eps}
	if len(weights) != len(eps) || len(eps) < 2 {
		return s
	}
	uniform := true
	for _, w := range weights[1:] {
		if norm(w) != norm(weights[0]) {
			uniform = false
			break
		}
	}
	if uniform {
		return s
	}
	s.Weights = make([]float64, len(eps))
	s.cum = make([]float64, len(eps))
	var sum float64
	for i, w := range weights {
		s.Weights[i] = norm(w)
		sum += s.Weights[i]
		s.cum[i] = sum
	}
	return s
}

// norm is w, or 1 when w is not a finite number > 0.
func norm(w float64) float64 {
	if !(w > 0) || math.IsInf(w, 0) {
		return 1
	}
	return w
}

// Weighted reports whether the endpoints have unequal weights.
func (s *Set) Weighted() bool { return s.Weights != nil }

// total is the sum of the weights; s is weighted.
func (s *Set) total() float64 { return s.cum[len(s.cum)-1] }

// at is the index whose share of [0, total) holds x: the i with
// cum[i-1] <= x < cum[i], by binary search (no allocation). x at or past
// the total (rounding) gives the last index.
func (s *Set) at(x float64) int {
	lo, hi := 0, len(s.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// draw picks an index with probability proportional to its weight; s is
// weighted.
func (s *Set) draw(r Rand) int { return s.at(unit(r) * s.total()) }

// unitBits is the resolution of unit: 2^30 steps are far finer than any
// share a weight can express, and IntN(1<<30) fits a 32-bit int.
const unitBits = 30

// unit is a uniform number in [0, 1) from r.
func unit(r Rand) float64 {
	return float64(r.IntN(1<<unitBits)) / (1 << unitBits)
}
