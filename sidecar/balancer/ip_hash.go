package balancer

import "hash/maphash"

// IPHash sends a client to the same endpoint every time by rendezvous
// (highest-random-weight) hashing of the client key: every endpoint scores
// hash(key, endpoint) and the highest wins. When an endpoint leaves, only its
// own clients move; when one joins, it takes about 1/n of the keys.
type IPHash struct{}

// Pick implements Policy.
func (IPHash) Pick(eps []*Endpoint, key string) *Endpoint {
	kh := maphash.String(hashSeed, key)
	best := eps[0]
	bestScore := mix64(kh ^ best.addrHash)
	for _, e := range eps[1:] {
		if s := mix64(kh ^ e.addrHash); s > bestScore {
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
