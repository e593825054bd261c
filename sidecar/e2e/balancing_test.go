package e2e

import (
	"math"
	"testing"
	"time"
)

// With one endpoint 100 ms slower than the others and 16 concurrent
// clients, least_conn keeps the slow one's share small: it holds a request
// for 100 ms while the fast ones finish many.
func TestLeastConnAvoidsSlowEndpoint(t *testing.T) {
	fast1 := newInstance(t, "fast-1", 0)
	fast2 := newInstance(t, "fast-2", 0)
	slow := newInstance(t, "slow", 100*time.Millisecond)
	p := startSidecar(t, upstreamYAML("least_conn", "5s", fast1.addr(), fast2.addr(), slow.addr()))

	const n = 1600
	got, bad := drive(t, p.url("payments", "/pay"), n, 16)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed: %v", len(bad), bad[:min(len(bad), 10)])
	}
	total := got["fast-1"] + got["fast-2"] + got["slow"]
	if total != n {
		t.Fatalf("served %d of %d: %v", total, n, got)
	}
	if share := float64(got["slow"]) / n; share > 0.15 {
		t.Fatalf("slow endpoint got %.1f%% of requests, want <= 15%% (%v)", share*100, got)
	}
	if got["fast-1"] == 0 || got["fast-2"] == 0 {
		t.Fatalf("a fast endpoint got nothing: %v", got)
	}
	t.Logf("shares: %v", got)
}

func TestRoundRobinSharesEvenly(t *testing.T) {
	a := newInstance(t, "a", 0)
	b := newInstance(t, "b", 0)
	c := newInstance(t, "c", 0)
	p := startSidecar(t, upstreamYAML("round_robin", "5s", a.addr(), b.addr(), c.addr()))

	const n = 900
	got, bad := drive(t, p.url("payments", "/"), n, 8)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed: %v", len(bad), bad)
	}
	for _, name := range []string{"a", "b", "c"} {
		if share := float64(got[name]) / n; math.Abs(share-1.0/3) > 0.02 {
			t.Fatalf("%s got %.3f of requests, want 1/3 (%v)", name, share, got)
		}
	}
}
