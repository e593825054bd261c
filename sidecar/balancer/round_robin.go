package balancer

import "sync/atomic"

// RoundRobin hands out endpoints in turn. The counter lives in the policy,
// which outlives snapshots, so the rotation continues across updates.
type RoundRobin struct {
	next atomic.Uint64
}

// Pick implements Policy.
func (p *RoundRobin) Pick(eps []*Endpoint, _ string) *Endpoint {
	n := p.next.Add(1) - 1
	return eps[n%uint64(len(eps))]
}
