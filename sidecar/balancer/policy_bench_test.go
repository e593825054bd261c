package balancer

import (
	"fmt"
	"testing"
)

// BenchmarkPick measures one pick per policy and snapshot size; the issue's
// target is 0 allocs/op for every policy.
func BenchmarkPick(b *testing.B) {
	for _, name := range []string{"least_conn", "round_robin", "random", "ip_hash", "p2c_ewma"} {
		for _, n := range []int{3, 100} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				eps := endpoints(n)
				for i, e := range eps {
					e.active.Store(int64(i % 4))
					e.latency.observe(int64(1e6+i*1000), 1e12)
				}
				p, _ := New(name, nil)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						e := p.Pick(eps, "10.1.2.3")
						e.Begin()
						e.Finish(200, false, 1e6, 1e12)
					}
				})
			})
		}
	}
}

// TestPickDoesNotAllocate holds the 0-alloc target in the test suite too, so
// a regression fails `make test`, not only a benchmark someone must read.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"least_conn", "round_robin", "random", "ip_hash", "p2c_ewma"} {
		for _, n := range []int{3, 100} {
			eps := endpoints(n)
			p, _ := New(name, nil)
			for _, e := range eps { // allocate the lazy code counters first
				e.Begin()
				e.Finish(200, false, 1e6, 1e12)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				e := p.Pick(eps, "10.1.2.3")
				e.Begin()
				e.Finish(200, false, 1e6, 1e12)
			})
			if allocs != 0 {
				t.Errorf("%s with %d endpoints: %.1f allocs per pick, want 0", name, n, allocs)
			}
		}
	}
}
