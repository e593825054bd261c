package balancer

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"testing"
)

func weighted(eps []*Endpoint, w ...float64) *Set {
	s := NewSet(eps, w)
	return &s
}

func TestNewSetDropsEqualWeights(t *testing.T) {
	eps := endpoints(3)
	for _, tc := range []struct {
		name     string
		w        []float64
		weighted bool
	}{
		{"none", nil, false},
		{"all equal", []float64{2, 2, 2}, false},
		{"invalid counts as 1", []float64{1, math.NaN(), 0}, false},
		{"wrong length", []float64{1, 2}, false},
		{"unequal", []float64{1, 2, 1}, true},
		{"infinite counts as 1", []float64{math.Inf(1), 2, 1}, true},
	} {
		s := NewSet(eps, tc.w)
		if s.Weighted() != tc.weighted || len(s.Endpoints) != 3 {
			t.Errorf("%s: weighted %v, want %v", tc.name, s.Weighted(), tc.weighted)
		}
	}
	s := NewSet(eps, []float64{1, 2, 3})
	for x, want := range map[float64]int{0: 0, 0.99: 0, 1: 1, 2.99: 1, 3: 2, 5.99: 2, 6: 2, 7: 2} {
		if got := s.at(x); got != want {
			t.Errorf("at(%v) = %d, want %d", x, got, want)
		}
	}
}

// picks runs n picks (each begun and finished at once, as sequential
// requests are) and returns each endpoint's count.
func picks(p Policy, set *Set, n int) []int {
	counts := make([]int, len(set.Endpoints))
	index := map[*Endpoint]int{}
	for i, e := range set.Endpoints {
		index[e] = i
	}
	for i := range n {
		e := p.Pick(set, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		e.Begin()
		e.Finish(200, false, 1e6, 1e12)
		counts[index[e]]++
	}
	return counts
}

// setLatency puts the peak-EWMA estimate at v nanoseconds.
func setLatency(e *Endpoint, v float64) {
	e.latency.word.Store(uint64(math.Float32bits(float32(v)))<<32 | 1)
}

// jitteryP2C draws every endpoint's latency afresh before each pick, so
// p2c_ewma compares equal endpoints whose costs differ by noise, as real
// ones do.
type jitteryP2C struct {
	P2CEWMA
	eps []*Endpoint
	rnd *rand.Rand
}

func (j *jitteryP2C) Pick(set *Set, key string) *Endpoint {
	for _, e := range j.eps {
		setLatency(e, 1e6+float64(j.rnd.IntN(1000)))
	}
	return j.P2CEWMA.Pick(set, key)
}

// Weights 10:1 give about 10:1 under every policy, with sequential picks
// (nothing in flight, equal latencies).
func TestWeightsTenToOneUnderEveryPolicy(t *testing.T) {
	for _, name := range policyNames {
		t.Run(name, func(t *testing.T) {
			eps := endpoints(2)
			set := weighted(eps, 10, 1)
			rnd := rand.New(rand.NewPCG(1, 2))
			p, _ := New(name, rnd)
			if name == "p2c_ewma" {
				p = &jitteryP2C{P2CEWMA: P2CEWMA{rnd: rnd}, eps: eps, rnd: rand.New(rand.NewPCG(3, 4))}
			}
			const n = 22000 // light's expected count 2,000; ±5 sd is ±213
			c := picks(p, set, n)
			ratio := float64(c[0]) / float64(c[1])
			t.Logf("counts %v, ratio %.2f", c, ratio)
			if ratio < 8.8 || ratio > 11.4 {
				t.Fatalf("counts %v: ratio %.2f, want ~10", c, ratio)
			}
		})
	}
}

// Round-robin's weighted sequence is spread evenly, not in bursts: the
// light endpoint (1 in 11) never comes twice within 5 picks nor stays away
// for more than 15, and the counts are exact to within a pick or two.
func TestWeightedRoundRobinIsEven(t *testing.T) {
	eps := endpoints(2)
	set := weighted(eps, 10, 1)
	p, _ := New("round_robin", nil)
	last, light := -1, 0
	for i := range 11000 {
		if p.Pick(set, "") != eps[1] {
			continue
		}
		light++
		if last >= 0 && (i-last < 5 || i-last > 15) {
			t.Fatalf("light endpoint at picks %d and %d", last, i)
		}
		last = i
	}
	if light < 998 || light > 1002 {
		t.Fatalf("light endpoint got %d of 11000, want 1000", light)
	}
}

// With weights, least_conn's effective weight is w/(active+1): an endpoint
// of weight 2 with 3 requests in flight weighs 0.5 against an idle one's 1.
func TestWeightedLeastConnDiscountsBusyEndpoints(t *testing.T) {
	eps := endpoints(2)
	set := weighted(eps, 2, 1)
	eps[0].active.Store(3)
	p, _ := New("least_conn", rand.New(rand.NewPCG(5, 6)))
	const n = 30000
	c := 0
	for range n {
		if p.Pick(set, "") == eps[0] {
			c++
		}
	}
	if share := float64(c) / n; math.Abs(share-1.0/3) > 0.02 {
		t.Fatalf("busy endpoint's share %.3f, want 1/3", share)
	}
}

// Weighted p2c_ewma still steers away from a slow endpoint: the heavy one
// is 100 times slower, so the light one wins every draw it is in.
func TestWeightedP2CStillPrefersFaster(t *testing.T) {
	eps := endpoints(2)
	set := weighted(eps, 10, 1)
	setLatency(eps[0], 100e6)
	setLatency(eps[1], 1e6)
	p, _ := New("p2c_ewma", rand.New(rand.NewPCG(7, 8)))
	const n = 20000
	c := 0
	for range n {
		if p.Pick(set, "") == eps[1] {
			c++
		}
	}
	// The light one is drawn at least once in 1-(10/11)² = 17.4% of picks.
	if share := float64(c) / n; math.Abs(share-0.174) > 0.02 {
		t.Fatalf("fast light endpoint's share %.3f, want ~0.174", share)
	}
}

// Weighted rendezvous hashing: starting a ramp (equal weights → one
// endpoint at 0.1) moves keys only away from that endpoint, and raising its
// weight moves keys only to it.
func TestWeightedIPHashMovesKeysOnlyForTheRampingEndpoint(t *testing.T) {
	eps := endpoints(4)
	p, _ := New("ip_hash", nil)
	uniform := &Set{Endpoints: eps}
	low := weighted(eps, 1, 1, 1, 0.1)
	mid := weighted(eps, 1, 1, 1, 0.55)
	var atLow, atMid int
	for i := range 4000 {
		key := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		u, l, m := p.Pick(uniform, key), p.Pick(low, key), p.Pick(mid, key)
		if l != u && l == eps[3] {
			t.Fatalf("key %s moved to the ramping endpoint when its weight fell", key)
		}
		if l != u && u != eps[3] {
			t.Fatalf("key %s moved from %s to %s though neither's weight changed", key, u.Address, l.Address)
		}
		if m != l && m != eps[3] {
			t.Fatalf("key %s moved from %s to %s, not to the ramping endpoint", key, l.Address, m.Address)
		}
		if l == eps[3] {
			atLow++
		}
		if m == eps[3] {
			atMid++
		}
	}
	// Shares 0.1/3.1 and 0.55/3.55 of 4000 keys: ~129 and ~620.
	if atLow < 70 || atLow > 200 || atMid < 500 || atMid > 750 {
		t.Fatalf("ramping endpoint held %d then %d keys of 4000, want ~129 then ~620", atLow, atMid)
	}
}

// The weighted hash skips the logarithm of endpoints that cannot win; it
// picks exactly what scoring every endpoint would.
func TestWeightedIPHashPruningIsExact(t *testing.T) {
	eps := endpoints(50)
	rnd := rand.New(rand.NewPCG(9, 10))
	w := make([]float64, len(eps))
	for i := range w {
		w[i] = 0.1 + 10*rnd.Float64()
	}
	set := weighted(eps, w...)
	p, _ := New("ip_hash", nil)
	for i := range 5000 {
		key := fmt.Sprintf("10.1.%d.%d", i/256, i%256)
		kh := maphash.String(hashSeed, key)
		var want *Endpoint
		best := math.Inf(1)
		for j, e := range eps {
			u := (float64(mix64(kh^e.addrHash)>>11) + 0.5) / (1 << 53)
			if s := -math.Log(u) / w[j]; s < best {
				want, best = e, s
			}
		}
		if got := p.Pick(set, key); got != want {
			t.Fatalf("key %s: picked %s, scoring every endpoint gives %s", key, got.Address, want.Address)
		}
	}
}
