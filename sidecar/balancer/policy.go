package balancer

import (
	"fmt"
	"math/rand/v2"
)

// Policy picks the endpoint for one request.
//
// Pick is called concurrently from every request goroutine. It must not
// block, take a lock or allocate. set is a snapshot's: never empty, never
// modified, and holds only endpoints that may receive traffic (unhealthy and
// ejected ones are left out when the snapshot is built), so a policy has no
// availability question of its own to ask. When set.Weights is nil every
// endpoint weighs the same and the policy takes its unweighted path; else it
// gives each endpoint a share in proportion to its weight, in the way
// docs/balancing.md describes for that policy. key identifies the client
// (for ip_hash); other policies ignore it.
type Policy interface {
	Pick(set *Set, key string) *Endpoint
}

// Rand is the randomness a policy draws on. Tests inject a fixed sequence so
// that tie-breaks and power-of-two choices are exact.
type Rand interface {
	// IntN returns a number in [0, n); n > 0.
	IntN(n int) int
}

// SystemRand is math/rand/v2's lock-free per-thread generator.
type SystemRand struct{}

// IntN implements Rand.
func (SystemRand) IntN(n int) int { return rand.IntN(n) }

// New returns the policy called name (config.LB* values). rnd may be nil for
// SystemRand.
func New(name string, rnd Rand) (Policy, error) {
	if rnd == nil {
		rnd = SystemRand{}
	}
	switch name {
	case "least_conn", "":
		return &LeastConn{rnd: rnd}, nil
	case "round_robin":
		return &RoundRobin{}, nil
	case "random":
		return &Random{rnd: rnd}, nil
	case "ip_hash":
		return &IPHash{}, nil
	case "p2c_ewma":
		return &P2CEWMA{rnd: rnd}, nil
	}
	return nil, fmt.Errorf("unknown lb policy %q", name)
}
