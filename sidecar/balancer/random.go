package balancer

// Random picks an endpoint uniformly at random, or with weights with
// probability proportional to its weight (a binary search over the
// weights' prefix sums).
type Random struct {
	rnd Rand
}

// Pick implements Policy.
func (p *Random) Pick(set *Set, _ string) *Endpoint {
	if set.Weights == nil {
		return set.Endpoints[p.rnd.IntN(len(set.Endpoints))]
	}
	return set.Endpoints[set.draw(p.rnd)]
}
