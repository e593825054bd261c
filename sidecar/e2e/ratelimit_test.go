package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRateLimitHoldsTheRate is the acceptance check: 150 req/s
// offered for 4 s against requests_per_second: 50 (burst by default 50).
// The backend sees 50 ± 10 % in each full second after the first (which
// also has the burst); everything else is 429 rate_limited with a
// Retry-After of at least one second, and is counted in
// outrigger_local_replies_total.
func TestRateLimitHoldsTheRate(t *testing.T) {
	const (
		offered  = 150 // requests per second
		seconds  = 4
		allowed  = 50
		maxInFly = 128 // bound on concurrent client requests
	)
	var mu sync.Mutex
	var arrivals []time.Time
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	p := startSidecar(t, fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
upstreams:
  - name: payments
    listen: 127.0.0.1:0
    endpoints: [%q]
    rate_limit:
      requests_per_second: %d
`, be, allowed))
	url := p.url("payments", "/pay")

	tr := &http.Transport{MaxIdleConnsPerHost: maxInFly}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type result struct {
		status           int
		code, retryAfter string
		err              error
	}
	results := make(chan result, offered*seconds)
	sem := make(chan struct{}, maxInFly)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / offered)
	start := time.Now()
	sent := 0
	for sent < offered*seconds && time.Since(start) < seconds*time.Second {
		<-tick.C
		sem <- struct{}{}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := client.Get(url)
			if err != nil {
				results <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("X-Outrigger-Error"), resp.Header.Get("Retry-After"), nil}
		}()
	}
	tick.Stop()
	wg.Wait()
	close(results)
	if sent < offered*seconds*9/10 {
		t.Fatalf("the load driver offered only %d of %d requests in %ds", sent, offered*seconds, seconds)
	}

	ok, limited := 0, 0
	for r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("request failed: %v", r.err)
		case r.status == 200:
			ok++
		case r.status == 429 && r.code == "rate_limited":
			if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
				t.Fatalf("429 with Retry-After %q, want whole seconds >= 1", r.retryAfter)
			}
			limited++
		default:
			t.Fatalf("got %d %q, want 200 or 429 rate_limited", r.status, r.code)
		}
	}

	mu.Lock()
	perSecond := make([]int, seconds+1) // the last slot: after the load's end
	for _, at := range arrivals {
		perSecond[min(int(at.Sub(start)/time.Second), seconds)]++
	}
	total := len(arrivals)
	mu.Unlock()
	t.Logf("offered %d in %v; backend per second %v; %d passed, %d got 429", sent, time.Since(start).Round(time.Millisecond), perSecond, ok, limited)
	if total != ok {
		t.Fatalf("the backend saw %d requests but clients got %d answers of 200", total, ok)
	}
	// The first second also spends the full bucket: 50 more.
	if n := perSecond[0]; n < 2*allowed*9/10 || n > 2*allowed*11/10 {
		t.Errorf("first second: %d passed, want %d (burst and rate) ± 10%%", n, 2*allowed)
	}
	for s := 1; s < seconds; s++ {
		if n := perSecond[s]; n < allowed*9/10 || n > allowed*11/10 {
			t.Errorf("second %d: %d passed, want %d ± 10%%", s, n, allowed)
		}
	}
	series := `outrigger_local_replies_total{reason="rate_limited",upstream="payments"}`
	if got := metricValue(t, p.admin, series); got != float64(limited) {
		t.Errorf("%s = %v, want %d (one per 429)", series, got, limited)
	}
}

// TestRateLimitInbound: inbound.rate_limit limits what the inbound
// listener passes to the local app, with the same 429 and the same
// counter under upstream="inbound". The rate (one per 10 s) refills
// nothing while the test runs, so the counts are exact.
func TestRateLimitInbound(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	app := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		io.WriteString(w, "app")
	}))
	_, port, _ := net.SplitHostPort(app)
	p := startSidecar(t, `service:
  name: payments
  address: 127.0.0.1
  port: `+port+`
inbound:
  listen: 127.0.0.1:0
  rate_limit: {requests_per_second: 0.1, burst: 3}
admin:
  listen: 127.0.0.1:0
upstreams: []
`)
	url := p.url("inbound", "/charge")
	for i := range 6 {
		status, hdr, body := getBody(t, url)
		if i < 3 {
			if status != 200 || body != "app" {
				t.Fatalf("request %d within the burst: %d %q", i, status, body)
			}
			continue
		}
		if status != 429 || hdr.Get("X-Outrigger-Error") != "rate_limited" || !strings.HasPrefix(body, "rate_limited") {
			t.Fatalf("request %d over the rate: %d %q %q", i, status, hdr.Get("X-Outrigger-Error"), body)
		}
		// One token per 10 s: the wait for it is at most 10 s.
		if n, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || n < 1 || n > 10 {
			t.Fatalf("request %d: Retry-After %q, want 1..10", i, hdr.Get("Retry-After"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 3 {
		t.Fatalf("the app saw %d requests, want 3", hits)
	}
	series := `outrigger_local_replies_total{reason="rate_limited",upstream="inbound"}`
	if got := metricValue(t, p.admin, series); got != 3 {
		t.Fatalf("%s = %v, want 3", series, got)
	}
}
