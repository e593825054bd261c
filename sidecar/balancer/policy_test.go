package balancer

import (
	"fmt"
	"math"
	"testing"
)

// seqRand returns its values in turn (mod n), so tie-breaks are exact.
type seqRand struct {
	vals []int
	i    int
}

func (r *seqRand) IntN(n int) int {
	v := r.vals[r.i%len(r.vals)]
	r.i++
	return v % n
}

func endpoints(n int) []*Endpoint {
	eps := make([]*Endpoint, n)
	for i := range eps {
		addr := fmt.Sprintf("127.0.0.1:%d", 7000+i)
		eps[i] = NewEndpoint(addr, addr)
	}
	return eps
}

func TestNewRejectsUnknownPolicy(t *testing.T) {
	if _, err := New("fastest", nil); err == nil {
		t.Fatal("New(fastest) succeeded")
	}
	for _, name := range []string{"least_conn", "round_robin", "random", "ip_hash", "p2c_ewma"} {
		if _, err := New(name, nil); err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
	}
}

func TestLeastConnPicksFewestActive(t *testing.T) {
	eps := endpoints(3)
	eps[0].active.Store(3)
	eps[1].active.Store(1)
	eps[2].active.Store(2)
	p, _ := New("least_conn", &seqRand{vals: []int{0}})
	if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[1] {
		t.Fatalf("picked %s, want %s", got.Address, eps[1].Address)
	}
}

func TestLeastConnBreaksTiesEvenly(t *testing.T) {
	eps := endpoints(4)
	eps[0].active.Store(1) // not tied
	p, _ := New("least_conn", nil)
	counts := map[*Endpoint]int{}
	const n = 30000
	for range n {
		counts[p.Pick(&Set{Endpoints: eps}, "")]++
	}
	if counts[eps[0]] != 0 {
		t.Fatalf("busier endpoint picked %d times", counts[eps[0]])
	}
	for _, e := range eps[1:] {
		if share := float64(counts[e]) / n; math.Abs(share-1.0/3) > 0.03 {
			t.Fatalf("%s got share %.3f, want ~0.333", e.Address, share)
		}
	}
}

func TestLeastConnTieBreakIsReservoir(t *testing.T) {
	eps := endpoints(3)
	// The second tie (eps[1]) replaces eps[0] when IntN(2)==0; the third
	// (eps[2]) replaces it when IntN(3)==0.
	p := &LeastConn{rnd: &seqRand{vals: []int{0, 1}}}
	if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[1] {
		t.Fatalf("picked %s, want %s", got.Address, eps[1].Address)
	}
}

func TestRoundRobinCycles(t *testing.T) {
	eps := endpoints(3)
	p, _ := New("round_robin", nil)
	for i := range 9 {
		if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[i%3] {
			t.Fatalf("pick %d = %s, want %s", i, got.Address, eps[i%3].Address)
		}
	}
}

func TestRandomUsesRand(t *testing.T) {
	eps := endpoints(3)
	p, _ := New("random", &seqRand{vals: []int{2, 0, 1}})
	for _, want := range []int{2, 0, 1} {
		if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[want] {
			t.Fatalf("picked %s, want %s", got.Address, eps[want].Address)
		}
	}
}

func TestIPHashIsStableAndMovesOnlyRemovedKeys(t *testing.T) {
	eps := endpoints(5)
	p, _ := New("ip_hash", nil)
	before := map[string]*Endpoint{}
	for i := range 1000 {
		key := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		before[key] = p.Pick(&Set{Endpoints: eps}, key)
		if again := p.Pick(&Set{Endpoints: eps}, key); again != before[key] {
			t.Fatalf("key %s moved without a change", key)
		}
	}
	removed := eps[2]
	fewer := append(append([]*Endpoint{}, eps[:2]...), eps[3:]...)
	moved := 0
	for key, was := range before {
		now := p.Pick(&Set{Endpoints: fewer}, key)
		if was == removed {
			moved++
			continue
		}
		if now != was {
			t.Fatalf("key %s moved from %s to %s although its endpoint stayed", key, was.Address, now.Address)
		}
	}
	if moved < 100 || moved > 300 {
		t.Fatalf("removed endpoint held %d of 1000 keys, want ~200", moved)
	}
}

func TestP2CEWMAPrefersFasterAndLessBusy(t *testing.T) {
	eps := endpoints(2)
	now := int64(1e12)
	eps[0].latency.observe(100e6, now) // 100 ms
	eps[1].latency.observe(1e6, now)   // 1 ms
	p := &P2CEWMA{rnd: &seqRand{vals: []int{0, 0}}}
	if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[1] {
		t.Fatalf("picked slow endpoint %s", got.Address)
	}
	eps[1].active.Store(200) // 1 ms × 201 > 100 ms × 1
	if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[0] {
		t.Fatalf("picked overloaded endpoint %s", got.Address)
	}
}

func TestP2CEWMAPenalisesUnmeasuredBusyEndpoint(t *testing.T) {
	eps := endpoints(2)
	eps[0].latency.observe(50e6, 1e12)
	eps[1].active.Store(1) // pending first response, no sample
	p := &P2CEWMA{rnd: &seqRand{vals: []int{1, 0}}}
	if got := p.Pick(&Set{Endpoints: eps}, ""); got != eps[0] {
		t.Fatalf("picked unmeasured busy endpoint")
	}
}

func TestPeakEWMAJumpsUpAndDecays(t *testing.T) {
	var p peakEWMA
	t0 := int64(1e12)
	p.observe(10e6, t0)
	if v := p.value(); v != 10e6 {
		t.Fatalf("first sample = %v", v)
	}
	p.observe(50e6, t0+1e6) // slower: peak
	if v := p.value(); v != 50e6 {
		t.Fatalf("after peak = %v, want 50e6", v)
	}
	p.observe(10e6, t0+ewmaDecayNanos) // ~1 tau later: weight 1/e on old
	want := 50e6/math.E + 10e6*(1-1/math.E)
	if v := p.value(); math.Abs(v-want)/want > 0.01 {
		t.Fatalf("after decay = %v, want ~%v", v, want)
	}
}

func TestFinishCountsCodesAndFailures(t *testing.T) {
	e := NewEndpoint("127.0.0.1:1", "a")
	e.Begin()
	e.Finish(200, false, 1e6, 1e12)
	e.Begin()
	e.Finish(503, true, 1e6, 1e12)
	e.Begin()
	e.Finish(503, true, 1e6, 1e12)
	got := map[int]uint64{}
	e.EachCode(func(c int, n uint64) { got[c] = n })
	if e.Active() != 0 || e.Requests() != 3 || e.Failures() != 2 || got[200] != 1 || got[503] != 2 || len(got) != 2 {
		t.Fatalf("active=%d requests=%d failures=%d codes=%v", e.Active(), e.Requests(), e.Failures(), got)
	}
	e.SetID("b")
	if e.ID() != "b" {
		t.Fatalf("id = %q", e.ID())
	}
}
