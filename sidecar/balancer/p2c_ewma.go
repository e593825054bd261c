package balancer

import "math"

// P2CEWMA draws two different endpoints at random and takes the cheaper,
// where cost = peak-EWMA latency × (active requests + 1). It adapts to slow
// endpoints faster than least_conn and needs no global scan.
//
// With weights the two candidates are drawn by weight, independently (the
// same endpoint may come up twice), and the cheaper one wins on cost alone.
// Among endpoints that cost the same, endpoint i then gets
// w_i² + w_i·(1−w_i) = w_i of the picks (shares of the total): exactly its
// weight, while cost still steers load away from a slow or busy one.
// Comparing cost/weight instead would count the weight twice — a 10:1 pair
// at low concurrency would split about 120:1 — and drawing two distinct
// candidates would compare a pair of endpoints every time and lose the
// weights altogether.
type P2CEWMA struct {
	rnd Rand
}

// unmeasuredPenalty is the cost of an endpoint that has requests in flight
// but no latency sample yet: it must not attract every request while its
// first responses are pending (Finagle's rule).
const unmeasuredPenalty = math.MaxFloat64 / 2

// Pick implements Policy.
func (p *P2CEWMA) Pick(set *Set, _ string) *Endpoint {
	eps := set.Endpoints
	if len(eps) == 1 {
		return eps[0]
	}
	var a, b *Endpoint
	if set.Weights != nil {
		a, b = eps[set.draw(p.rnd)], eps[set.draw(p.rnd)]
	} else {
		i := p.rnd.IntN(len(eps))
		j := p.rnd.IntN(len(eps) - 1)
		if j >= i {
			j++
		}
		a, b = eps[i], eps[j]
	}
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
