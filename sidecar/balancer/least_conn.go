package balancer

// LeastConn picks the endpoint with the fewest active requests. Ties are
// broken uniformly at random (reservoir sampling over the tied endpoints), so
// equal endpoints share load evenly instead of the first one taking it all.
type LeastConn struct {
	rnd Rand
}

// Pick implements Policy.
func (p *LeastConn) Pick(eps []*Endpoint, _ string) *Endpoint {
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
