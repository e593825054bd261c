package balancer

import (
	"fmt"
	"testing"
)

var policyNames = []string{"least_conn", "round_robin", "random", "ip_hash", "p2c_ewma"}

// BenchmarkPick measures one pick per policy and snapshot size with equal
// weights (the unweighted path every upstream without Consul weights or a
// slow-start ramp takes); the target is 0 allocs/op for every
// policy.
func BenchmarkPick(b *testing.B) { benchPick(b, false) }

// BenchmarkPickWeighted is the same with unequal weights (1, 2, 3, …).
func BenchmarkPickWeighted(b *testing.B) { benchPick(b, true) }

func benchPick(b *testing.B, weighted bool) {
	for _, name := range policyNames {
		for _, n := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				set := benchSet(n, weighted)
				for i, e := range set.Endpoints {
					e.active.Store(int64(i % 4))
					e.latency.observe(int64(1e6+i*1000), 1e12)
				}
				p, _ := New(name, nil)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						e := p.Pick(set, "10.1.2.3")
						e.Begin()
						e.Finish(200, false, 1e6, 1e12)
					}
				})
			})
		}
	}
}

func benchSet(n int, weighted bool) *Set {
	eps := endpoints(n)
	if !weighted {
		return &Set{Endpoints: eps}
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = float64(i + 1)
	}
	s := NewSet(eps, w)
	return &s
}

// TestPickDoesNotAllocate holds the 0-alloc target in the test suite too, so
// a regression fails `make test`, not only a benchmark someone must read.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		for _, name := range policyNames {
			for _, n := range []int{3, 100} {
				set := benchSet(n, weighted)
				p, _ := New(name, nil)
				for _, e := range set.Endpoints { // allocate the lazy code counters first
					e.Begin()
					e.Finish(200, false, 1e6, 1e12)
				}
				allocs := testing.AllocsPerRun(1000, func() {
					e := p.Pick(set, "10.1.2.3")
					e.Begin()
					e.Finish(200, false, 1e6, 1e12)
				})
				if allocs != 0 {
					t.Errorf("%s with %d endpoints (weighted %v): %.1f allocs per pick, want 0", name, n, weighted, allocs)
				}
			}
		}
	}
}
