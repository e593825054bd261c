package balancer

// Random picks an endpoint uniformly at random.
type Random struct {
	rnd Rand
}

// Pick implements Policy.
func (p *Random) Pick(eps []*Endpoint, _ string) *Endpoint {
	return eps[p.rnd.IntN(len(eps))]
}
