package balancer

import "math"

// P2CEWMA draws two different endpoints at random and takes the cheaper,
// where cost = peak-EWMA latency × (active requests + 1). It adapts to slow
// endpoints faster than least_conn and needs no global scan.
type P2CEWMA struct {
	rnd Rand
}

// unmeasuredPenalty is the cost of an endpoint that has requests in flight
// but no latency sample yet: it must not attract every request while its
// first responses are pending (Finagle's rule).
const unmeasuredPenalty = math.MaxFloat64 / 2

// Pick implements Policy.
func (p *P2CEWMA) Pick(eps []*Endpoint, _ string) *Endpoint {
	if len(eps) == 1 {
		return eps[0]
	}
	i := p.rnd.IntN(len(eps))
	j := p.rnd.IntN(len(eps) - 1)
	if j >= i {
		j++
	}
	a, b := eps[i], eps[j]
	if cost(b) < cost(a) {
		return b
	}
	return a
}

func cost(e *Endpoint) float64 {
	active := e.active.Load()
	lat := e.latency.value()
	if lat == 0 {
		if active == 0 {
			return 0
		}
		return unmeasuredPenalty
	}
	return lat * float64(active+1)
}
