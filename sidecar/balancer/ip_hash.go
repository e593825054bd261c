package balancer

import (
	"hash/maphash"
	"math"
)

// IPHash sends a client to the same endpoint every time by rendezvous
// (highest-random-weight) hashing of the client key: every endpoint scores
// hash(key, endpoint) and the highest wins. When an endpoint leaves, only its
// own clients move; when one joins, it takes about 1/n of the keys.
//
// With weights it is weighted rendezvous hashing: the score is
// w / −ln(u) with u = hash(key, endpoint) mapped into (0, 1), so an endpoint
// holds keys in proportion to its weight, and raising one weight (a
// slow-start ramp) moves keys only to that endpoint, a few at a time.
type IPHash struct{}

// Pick implements Policy.
func (IPHash) Pick(set *Set, key string) *Endpoint {
	eps := set.Endpoints
	kh := maphash.String(hashSeed, key)
	if set.Weights != nil {
		return pickWeightedHash(set, kh)
	}
	best := eps[0]
	bestScore := mix64(kh ^ best.addrHash)
	for _, e := range eps[1:] {
		if s := mix64(kh ^ e.addrHash); s > bestScore {
			best, bestScore = e, s
		}
	}
	return best
}

// pickWeightedHash keeps the lowest −ln(u)/w, the same order as the
// highest w/−ln(u) without a division by a value that may be 0. Since
// −ln(u) ≥ 1−u, an endpoint whose (1−u)/w is already above the best score
// cannot win and its logarithm is skipped: after the first few endpoints
// almost all are, which makes a pick over 100 endpoints several times
// cheaper.
func pickWeightedHash(set *Set, kh uint64) *Endpoint {
	var best *Endpoint
	bestScore := math.Inf(1)
	for i, e := range set.Endpoints {
		u := (float64(mix64(kh^e.addrHash)>>11) + 0.5) / (1 << 53) // (0, 1)
		w := set.Weights[i]
		if (1-u)/w > bestScore {
			continue
		}
		if s := -math.Log(u) / w; s < bestScore || best == nil {
			best, bestScore = e, s
		}
	}
	return best
}

// mix64 is SplitMix64's finaliser: it spreads the XOR of two hashes so that
// scores for different endpoints are independent.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
