package upstream

import (
	"fmt"
	"testing"
)

// BenchmarkPickAmongUpstreams shows the request path's cost does not grow
// with the number of upstreams: a listener's handler holds its own
// *Upstream, so there is no lookup in a shared table, and the other
// upstreams' snapshots are never touched.
func BenchmarkPickAmongUpstreams(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("upstreams=%d", n), func(b *testing.B) {
			ups := make([]*Upstream, n)
			for i := range ups {
				ups[i] = newTestUpstream(b, "least_conn")
				ups[i].Update(instances(fmt.Sprintf("10.%d.0.1:80", i%250), fmt.Sprintf("10.%d.0.2:80", i%250), fmt.Sprintf("10.%d.0.3:80", i%250)))
			}
			u := ups[n/2]
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				a, _ := u.Begin(nil, "", nil)
				a.End(Answer(200))
			}
		})
	}
}
