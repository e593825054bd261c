package proxy

import (
	"net/http"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// BenchmarkServeHTTPRateLimited is BenchmarkServeHTTP with a rate_limit
// configured but never reached (1e9 per second): what a limit costs a
// request it lets through. Compare the two side by side; off, the check is
// a nil pointer and costs nothing measurable.
func BenchmarkServeHTTPRateLimited(b *testing.B) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	cfg.RateLimit = config.RateLimit{RequestsPerSecond: 1e9, Burst: 1e9}
	h := benchHandler(b, cfg)
	serveBench(b, h)
	b.StopTimer()
	if n := h.up.Stats().LocalReplies(localreply.RateLimited); n != 0 {
		b.Fatalf("%d local replies", n)
	}
}

// BenchmarkRateLimitedRefusal is the cost of a refusal: the bucket is
// empty (burst 1, one token per 1000 s), so every request after the first
// gets 429 rate_limited.
func BenchmarkRateLimitedRefusal(b *testing.B) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	cfg.RateLimit = config.RateLimit{RequestsPerSecond: 0.001, Burst: 1}
	h := benchHandler(b, cfg)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	w := &discardWriter{h: make(http.Header, 8)}
	h.ServeHTTP(w, req) // the one token
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
