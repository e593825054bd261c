package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// manualClock is the upstream's (and so its bucket's) clock: it moves only
// when the test says, so which request passes is exact.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// limitedFront serves cfg's handler on a loopback server, its upstream on
// clk. A request with X-Via goes through ServeVia (a routing listener's
// route), any other through ServeHTTP (the upstream's own listener).
func limitedFront(t *testing.T, cfg config.Upstream, clk *manualClock, opts Options, endpoints ...string) (string, *upstream.Upstream, *statuscount.Codes) {
	t.Helper()
	up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static", Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]discovery.Instance, len(endpoints))
	for i, e := range endpoints {
		in[i] = discovery.Instance{Address: e, ID: e, Healthy: true}
	}
	up.Update(in)
	tr := newClient(cfg)
	t.Cleanup(tr.CloseIdleConnections)
	h := NewHandler(up, tr, opts)
	codes := &statuscount.Codes{}
	via := &Via{Listener: "edge", Route: "pay", Served: codes}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Via") != "" {
			h.ServeVia(w, r, via)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, up, codes
}

func rateLimitedCfg(rps float64, burst int) config.Upstream {
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.Timeout = "payments", 5*time.Second
	cfg.RateLimit = config.RateLimit{RequestsPerSecond: rps, Burst: burst}
	return cfg
}

type reply struct {
	status            int
	code, retry, body string
}

func get(t *testing.T, url string, hdr ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get(localreply.Header), resp.Header.Get("Retry-After"), string(b)}
}

// Over the rate: 429 rate_limited with Retry-After, counted as a local
// reply, never sent to the endpoint, and nothing else moves — no endpoint
// request or failure (the outlier detector's input), no request in
// flight, no retry, a closed breaker. The bucket is the upstream's: its
// own listener and a route into it draw on the same tokens.
func TestRateLimitRefusesOverTheRate(t *testing.T) {
	var hits atomic.Int64
	be := backend(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	// A breaker that would open on two failures out of two, were a
	// refusal ever reported to it.
	cfg := rateLimitedCfg(1, 2)
	cfg.CircuitBreaker.MinRequests, cfg.CircuitBreaker.FailureRatio = 2, 0.5
	url, up, codes := limitedFront(t, cfg, clk, Options{}, be)

	want := []struct {
		via    bool
		status int
	}{{false, 200}, {true, 200}, {false, 429}, {true, 429}, {false, 429}}
	for i, w := range want {
		var r reply
		if w.via {
			r = get(t, url+"/pay", "X-Via", "1")
		} else {
			r = get(t, url+"/pay")
		}
		if r.status != w.status {
			t.Fatalf("request %d (via %v): %d %q, want %d", i, w.via, r.status, r.body, w.status)
		}
		if w.status == 429 && (r.code != "rate_limited" || r.retry != "1" || r.body != "rate_limited: over the rate_limit of this sidecar\n") {
			t.Fatalf("request %d: %+v", i, r)
		}
		if w.status == 200 && (r.code != "" || r.retry != "") {
			t.Fatalf("request %d: an upstream answer with %+v", i, r)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("the endpoint saw %d requests, want the burst of 2", n)
	}
	if n := up.Stats().LocalReplies(localreply.RateLimited); n != 3 {
		t.Fatalf("rate_limited local replies = %d, want 3", n)
	}
	if n := codes.Count(429); n != 1 {
		t.Fatalf("the route counted %d 429s, want 1", n)
	}
	ep := up.Snapshot().Members[0].Endpoint
	if ep.Requests() != 2 || ep.Failures() != 0 || ep.Active() != 0 {
		t.Fatalf("endpoint: %d requests, %d failures, %d active; want 2, 0, 0", ep.Requests(), ep.Failures(), ep.Active())
	}
	if a, r, s := up.Stats().Active(), up.Stats().Retries(), up.Breaker().State(); a != 0 || r != 0 || s != breaker.Closed {
		t.Fatalf("active %d, retries %d, breaker %v", a, r, s)
	}

	// One second later one token has come back, and only one.
	clk.advance(time.Second)
	if r := get(t, url+"/pay"); r.status != 200 {
		t.Fatalf("after a second: %+v", r)
	}
	if r := get(t, url+"/pay"); r.status != 429 {
		t.Fatalf("a second token after one second: %+v", r)
	}
}

// Retry-After is the wait for the next whole token, rounded up: at 0.25
// requests per second an empty bucket needs 4 s, and 1.5 s later 3 s
// (2.5 rounded up).
func TestRateLimitRetryAfterBelowOnePerSecond(t *testing.T) {
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	url, _, _ := limitedFront(t, rateLimitedCfg(0.25, 1), clk, Options{}, be)
	if r := get(t, url); r.status != 200 {
		t.Fatalf("first: %+v", r)
	}
	if r := get(t, url); r.status != 429 || r.retry != "4" {
		t.Fatalf("empty bucket: %+v, want 429 with Retry-After 4", r)
	}
	clk.advance(1500 * time.Millisecond)
	if r := get(t, url); r.status != 429 || r.retry != "3" {
		t.Fatalf("after 1.5s: %+v, want 429 with Retry-After 3", r)
	}
}

// The bucket is checked before the concurrency cap: with the one slot
// taken by a request in flight, a request over the rate is refused as
// rate_limited, not overflow — it never asked for the slot.
func TestRateLimitBeforeTheConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	entered := make(chan struct{}, 1)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	t.Cleanup(unblock) // registered after backend's: runs first, so a failed test's server can close
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	cfg := rateLimitedCfg(1, 1)
	cfg.CircuitBreaker.MaxRequests = 1
	url, up, _ := limitedFront(t, cfg, clk, Options{}, be)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request did not reach the endpoint")
	}
	if r := get(t, url); r.status != 429 || r.code != "rate_limited" {
		t.Fatalf("with the slot taken: %+v, want 429 rate_limited", r)
	}
	if n := up.Stats().LocalReplies(localreply.Overflow); n != 0 {
		t.Fatalf("%d overflow replies", n)
	}
	unblock()
	if status := <-done; status != 200 {
		t.Fatalf("the held request: %d", status)
	}
}

// On the inbound listener the intentions come first: a caller they deny
// gets 403 and spends no token of the callers they allow.
func TestRateLimitInboundAfterIntentions(t *testing.T) {
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	cfg := rateLimitedCfg(1, 1)
	cfg.Name = "inbound"
	opts := Options{Inbound: true, Authorize: func(r *http.Request) bool { return r.Header.Get("X-Deny") == "" }}
	url, up, _ := limitedFront(t, cfg, clk, opts, be)
	for range 3 {
		if r := get(t, url, "X-Deny", "1"); r.status != 403 {
			t.Fatalf("denied caller: %+v", r)
		}
	}
	if r := get(t, url); r.status != 200 {
		t.Fatalf("allowed caller after denied ones: %+v", r)
	}
	if r := get(t, url); r.status != 429 || r.code != "rate_limited" {
		t.Fatalf("over the inbound rate: %+v", r)
	}
	if n := up.Stats().LocalReplies(localreply.RateLimited); n != 1 {
		t.Fatalf("inbound rate_limited replies = %d", n)
	}
}

// Without rate_limit the handler has no bucket at all: the off path is
// a nil check.
func TestRateLimitOffHasNoBucket(t *testing.T) {
	up := staticUpstream(t, rateLimitedCfg(0, 0), "127.0.0.1:1")
	if h := NewHandler(up, newClient(up.Config()), Options{}); h.limit != nil {
		t.Fatal("a handler without rate_limit built a bucket")
	}
}
