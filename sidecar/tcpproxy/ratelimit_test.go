package tcpproxy

import (
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// For tcp, rate_limit counts new connections: one over the rate is reset
// at once, counted as a rate_limited local reply, and never dialled. It
// is checked before the concurrency cap, so with the only slot taken the
// refusal is rate_limited, not overflow. The rate (one per 1000 s) refills
// nothing while the test runs, so the count is exact on the real clock.
func TestRateLimitPerConnection(t *testing.T) {
	b := newEcho(t)
	up := newUpstream(t, func(c *config.Upstream) {
		c.RateLimit = config.RateLimit{RequestsPerSecond: 0.001, Burst: 1}
		c.CircuitBreaker.MaxRequests = 1
	}, b.addr())
	p := startProxy(t, up, Options{})

	held := mustEcho(t, p.addr) // the only token and the only slot
	for range 3 {
		if err := refused(p.addr); err != nil {
			t.Fatalf("a connection over the rate stayed open: %v", err)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return up.Stats().LocalReplies(localreply.RateLimited) == 3 },
		"three rate_limited to be counted")
	if n := up.Stats().LocalReplies(localreply.Overflow); n != 0 {
		t.Fatalf("overflow = %d, want 0 (the bucket comes first)", n)
	}
	if n := b.total.Load(); n != 1 {
		t.Fatalf("backend got %d connections, want 1 (the refused ones are never dialled)", n)
	}
	if ep := endpoint(t, up, b.addr()); ep.Failures() != 0 {
		t.Fatalf("endpoint failures = %d: a refusal counted against it", ep.Failures())
	}
	// The held pair is untouched by the refusals.
	if err := roundTrip(held, []byte("still")); err != nil {
		t.Fatalf("the held pair: %v", err)
	}
}

// Without rate_limit the server has no bucket: the off path is a nil check.
func TestRateLimitOffHasNoBucket(t *testing.T) {
	if s := New(newUpstream(t, nil), Options{}); s.limit != nil {
		t.Fatal("a server without rate_limit built a bucket")
	}
}
