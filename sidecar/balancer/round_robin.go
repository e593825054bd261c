package balancer

import "sync/atomic"

// RoundRobin hands out endpoints in turn. The counter lives in the policy,
// which outlives snapshots, so the rotation continues across updates.
//
// With weights, pick n goes to the endpoint whose share of the weights'
// total holds frac(n/φ) (φ the golden ratio): that sequence is the most
// evenly spread one known (a low-discrepancy sequence), so over any run of
// picks each endpoint's count stays within a few picks of its share, and it
// needs no more state than the counter — no lock, no schedule to rebuild
// when a slow-start weight moves.
type RoundRobin struct {
	next atomic.Uint64
}

// goldenGamma is 2^64/φ: n·goldenGamma mod 2^64 is frac(n/φ) in 64-bit
// fixed point, exact for every n (float64 would lose the fraction as n
// grows).
const goldenGamma = 0x9E3779B97F4A7C15

// Pick implements Policy.
func (p *RoundRobin) Pick(set *Set, _ string) *Endpoint {
	n := p.next.Add(1) - 1
	if set.Weights == nil {
		return set.Endpoints[n%uint64(len(set.Endpoints))]
	}
	u := float64((n*goldenGamma)>>11) / (1 << 53) // [0, 1)
	return set.Endpoints[set.at(u*set.total())]
}
