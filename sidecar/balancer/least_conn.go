package balancer

// LeastConn picks the endpoint with the fewest active requests. Ties are
// broken uniformly at random (reservoir sampling over the tied endpoints), so
// equal endpoints share load evenly instead of the first one taking it all.
//
// With weights it follows Envoy's least-request rule for unequal weights: a
// weighted random choice where endpoint i weighs w_i / (active_i + 1). An
// idle upstream thus splits by the weights' ratio, and a busy endpoint's
// share shrinks with its queue.
type LeastConn struct {
	rnd Rand
}

// Pick implements Policy.
func (p *LeastConn) Pick(set *Set, _ string) *Endpoint {
	eps := set.Endpoints
	if set.Weights != nil {
		return p.pickWeighted(set)
	}
	best := eps[0]
	min := best.active.Load()
	ties := 1
	for _, e := range eps[1:] {
		a := e.active.Load()
		switch {
		case a < min:
			best, min, ties = e, a, 1
		case a == min:
			ties++
			if p.rnd.IntN(ties) == 0 {
				best = e
			}
		}
	}
	return best
}

// pickWeighted draws with effective weights w_i/(active_i+1) in two passes
// (the total, then the draw). The active counts may move between the
// passes; a draw that then runs past the end takes the last endpoint, a
// bias of one pick in a race that is over in nanoseconds.
func (p *LeastConn) pickWeighted(set *Set) *Endpoint {
	eps := set.Endpoints
	var total float64
	for i, e := range eps {
		total += set.Weights[i] / float64(e.active.Load()+1)
	}
	x := unit(p.rnd) * total
	for i, e := range eps {
		x -= set.Weights[i] / float64(e.active.Load()+1)
		if x < 0 {
			return e
		}
	}
	return eps[len(eps)-1]
}
