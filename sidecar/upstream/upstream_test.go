package upstream

import (
	"fmt"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func newTestUpstream(t testing.TB, lb string) *Upstream {
	t.Helper()
	u, err := New(config.Upstream{Name: "payments", LB: lb}, Options{
		Now: func() time.Time { return time.Unix(1700000000, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func instances(addrs ...string) []discovery.Instance {
	out := make([]discovery.Instance, len(addrs))
	for i, a := range addrs {
		out[i] = discovery.Instance{Address: a, ID: "id-" + a, Healthy: true}
	}
	return out
}

func TestPickBeforeAndAfterFirstUpdate(t *testing.T) {
	u := newTestUpstream(t, "round_robin")
	if u.Ready() {
		t.Fatal("ready before any update")
	}
	if _, ref := u.Begin(nil, "", nil); ref == nil || ref.Reason.String() != "no_healthy_upstream" {
		t.Fatalf("began with no snapshot: %v", ref)
	}
	u.Update(nil)
	if !u.Ready() {
		t.Fatal("an empty set is still a first result")
	}
	if _, ref := u.Begin(nil, "", nil); ref == nil {
		t.Fatal("began with an empty set")
	}
	u.Update(instances("a:1"))
	a, ref := u.Begin(nil, "", nil)
	if ref != nil || a.Endpoint().Address != "a:1" || a.Endpoint().Active() != 1 {
		t.Fatalf("begin = %v %v", a.Endpoint(), ref)
	}
	a.End(Answer(200))
	if e := a.Endpoint(); e.Active() != 0 || e.Requests() != 1 {
		t.Fatalf("after end: active %d requests %d", e.Active(), e.Requests())
	}
}

func TestUpdateCarriesStateByAddress(t *testing.T) {
	u := newTestUpstream(t, "least_conn")
	u.Update(instances("a:1", "b:2"))
	a, _ := u.Begin(nil, "", nil)
	held := a.Endpoint()
	u.Update(instances("b:2", "c:3", "a:1"))
	s := u.Snapshot()
	found := false
	for _, m := range s.Members {
		if m.Endpoint == held {
			found = true
		}
	}
	if !found || held.Active() != 1 {
		t.Fatalf("endpoint %s not carried over (active %d)", held.Address, held.Active())
	}
	u.Update(instances("c:3"))
	if got := len(u.Snapshot().Members); got != 1 {
		t.Fatalf("members = %d, want 1", got)
	}
	u.Update(instances(held.Address))
	if u.Snapshot().Members[0].Endpoint == held {
		t.Fatal("an endpoint that left and came back kept its old state object")
	}
	a.End(Answer(200)) // the old object still finishes cleanly
	if u.Stats().DiscoveryUpdates() != 4 || u.LastUpdate().IsZero() {
		t.Fatalf("updates %d last %v", u.Stats().DiscoveryUpdates(), u.LastUpdate())
	}
}

func TestUnhealthyAndDuplicateInstances(t *testing.T) {
	u := newTestUpstream(t, "round_robin")
	in := instances("a:1", "b:2", "a:1")
	in[1].Healthy = false
	u.Update(in)
	s := u.Snapshot()
	if len(s.Members) != 2 || len(s.Pickable) != 1 || s.Pickable[0].Address != "a:1" {
		t.Fatalf("members %d pickable %v", len(s.Members), s.Pickable)
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram([]float64{0.1, 1})
	h.Observe(0.05)
	h.Observe(0.5)
	h.Observe(5)
	count, sum, cum := h.Snapshot()
	if count != 3 || sum != 5.55 || cum[0.1] != 1 || cum[1] != 2 {
		t.Fatalf("count %d sum %v cum %v", count, sum, cum)
	}
}

// BenchmarkUpdateOneChanged applies a 1,000-endpoint set in which one
// endpoint changed. The 999 that stay reuse their state objects; the
// allocations per op are the two snapshot slices, the snapshot, and the one
// new endpoint — none per staying endpoint.
func BenchmarkUpdateOneChanged(b *testing.B) {
	u := newTestUpstream(b, "least_conn")
	base := make([]string, 1000)
	for i := range base {
		base[i] = fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256)
	}
	sets := [2][]discovery.Instance{instances(base...), instances(base...)}
	sets[1][500].Address = "10.9.9.9:8080"
	u.Update(sets[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u.Update(sets[(i+1)%2])
	}
}

func TestUpdateReusesStayingEndpoints(t *testing.T) {
	u := newTestUpstream(t, "least_conn")
	base := make([]string, 1000)
	for i := range base {
		base[i] = fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256)
	}
	sets := [2][]discovery.Instance{instances(base...), instances(base...)}
	sets[1][500].Address = "10.9.9.9:8080"
	u.Update(sets[0])
	i := 0
	allocs := testing.AllocsPerRun(50, func() { i++; u.Update(sets[i%2]) })
	// The snapshot and its slices, the outlier detector's host list, and
	// the one new endpoint (its state, id, address, tracking record): a
	// fixed handful, none per staying endpoint (that would be ~1,000).
	if allocs > 20 {
		t.Fatalf("%.0f allocs per update of 1,000 endpoints with one changed, want <= 20", allocs)
	}
}

func TestOnRemovedReportsDepartedEndpoints(t *testing.T) {
	u := newTestUpstream(t, "least_conn")
	var gone []string
	u.OnRemoved(func(addr string) { gone = append(gone, addr) })
	u.Update(instances("a:1", "b:2"))
	u.Update(instances("b:2"))
	if len(gone) != 1 || gone[0] != "a:1" {
		t.Fatalf("removed %v, want [a:1]", gone)
	}
}
