package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func resilienceYAML(upstream string, endpoints ...string) string {
	quoted := make([]string, len(endpoints))
	for i, e := range endpoints {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
upstreams:
  - name: payments
    listen: 127.0.0.1:0
    endpoints: [%s]
%s`, strings.Join(quoted, ", "), upstream)
}

// One of three endpoints always answers 503: retries hide it from the
// client, and it is ejected after exactly its 5 consecutive 5xx (a few more
// may be in flight at that moment with 8 concurrent clients).
func TestBadEndpointIsEjectedAndRetriesHideIt(t *testing.T) {
	t.Parallel()
	good1, good2, bad := newSwitchable(t, "good1"), newSwitchable(t, "good2"), newSwitchable(t, "bad")
	bad.status.Store(503)
	p := startSidecar(t, resilienceYAML(`    outlier:
      base_ejection_time: 5m
`, good1.addr(), good2.addr(), bad.addr()))

	const n, c = 2000, 8
	got, failed := drive(t, p.url("payments", "/"), n, c)
	if ok := got["good1"] + got["good2"]; float64(ok) < 0.999*n {
		t.Fatalf("%d of %d succeeded (failures %v), want >= 99.9%%", ok, n, failed[:min(len(failed), 10)])
	}
	e := p.endpointView("payments", bad.addr())
	if !e.Ejected || e.EjectionReason != "consecutive_5xx" || e.Ejections != 1 || e.EjectedUntil == "" {
		t.Fatalf("bad endpoint: %+v", e)
	}
	if hits := bad.hits.Load(); hits < 5 || hits > 5+c {
		t.Fatalf("bad endpoint saw %d requests, want 5 (+ up to %d in flight)", hits, c)
	}
	m := scrape(t, p.admin)
	for _, want := range []string{
		`outrigger_outlier_ejections_total{endpoint="` + bad.addr() + `",reason="consecutive_5xx",upstream="payments"} 1`,
		`outrigger_upstream_endpoints{state="ejected",upstream="payments"} 1`,
		`outrigger_upstream_endpoints{state="healthy",upstream="payments"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if r := metricValue(t, p.admin, `outrigger_retries_total{upstream="payments"}`); r < 5 {
		t.Errorf("retries_total %v, want >= 5", r)
	}
}

// It returns after base_ejection_time; still bad, it is ejected again for
// twice as long.
func TestEjectionReturnsAndDoubles(t *testing.T) {
	t.Parallel()
	good, bad := newSwitchable(t, "good"), newSwitchable(t, "bad")
	bad.status.Store(503)
	p := startSidecar(t, resilienceYAML(`    lb: round_robin
    outlier:
      interval: 100ms
      base_ejection_time: 2s
      max_ejection_time: 1m
`, good.addr(), bad.addr()))

	sequential(t, p.url("payments", "/"), 10) // round robin: 5 reach bad
	first := p.endpointView("payments", bad.addr())
	if !first.Ejected || first.Ejections != 1 {
		t.Fatalf("after 5 consecutive 5xx: %+v", first)
	}
	ejectedAt := time.Now()
	waitFor(t, 5*time.Second, func() bool { return !p.endpointView("payments", bad.addr()).Ejected },
		"the ejected endpoint to return")
	if back := time.Since(ejectedAt); back < 1500*time.Millisecond {
		t.Fatalf("returned after %v, want ~2s (base_ejection_time)", back)
	}
	sequential(t, p.url("payments", "/"), 10)
	second := p.endpointView("payments", bad.addr())
	until, err := time.Parse(time.RFC3339, second.EjectedUntil)
	if !second.Ejected || second.Ejections != 2 || err != nil {
		t.Fatalf("second ejection: %+v (%v)", second, err)
	}
	// ejected_until has whole seconds: 2 × base = 4 s from now, ±1 s.
	if d := time.Until(until); d < 2*time.Second || d > 5*time.Second {
		t.Fatalf("second ejection lasts %v from now, want ~4s", d)
	}
}

// Every endpoint fails: the breaker opens; while open, local replies come
// back without touching an upstream; after open_timeout the probes close
// it once the backends heal. (How fast the replies are is a benchmark's
// question, not this test's: a busy machine made a 1 ms bound flaky.)
func TestBreakerOpensAndCloses(t *testing.T) {
	t.Parallel()
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	a.status.Store(500)
	b.status.Store(500)
	p := startSidecar(t, resilienceYAML(`    retries: {attempts: 0}
    outlier: {enabled: false}
    circuit_breaker:
      failure_ratio: 0.5
      min_requests: 10
      interval: 1m
      open_timeout: 3s
      half_open_requests: 3
`, a.addr(), b.addr()))

	byStatus, _ := sequential(t, p.url("payments", "/"), 10)
	if byStatus[500] != 10 || p.breakerState("payments") != "open" {
		t.Fatalf("after 10 failures: %v, breaker %s", byStatus, p.breakerState("payments"))
	}
	if v := metricValue(t, p.admin, `outrigger_circuit_breaker_state{upstream="payments"}`); v != 2 {
		t.Fatalf("breaker state metric %v, want 2", v)
	}
	hitsBefore := a.hits.Load() + b.hits.Load()
	// Well within open_timeout (3 s) even on a loaded machine; past it
	// the breaker would let a probe through.
	const open = 50
	byStatus, byReason := sequential(t, p.url("payments", "/"), open)
	if byStatus[503] != open || byReason["circuit_open"] != open {
		t.Fatalf("while open: %v %v", byStatus, byReason)
	}
	if hits := a.hits.Load() + b.hits.Load(); hits != hitsBefore {
		t.Fatalf("backends saw %d requests while the breaker was open", hits-hitsBefore)
	}

	a.status.Store(0)
	b.status.Store(0)
	waitFor(t, 10*time.Second, func() bool { return p.breakerState("payments") == "half_open" }, "half-open after open_timeout")
	byStatus, _ = sequential(t, p.url("payments", "/"), 3) // the 3 probes
	if byStatus[200] != 3 || p.breakerState("payments") != "closed" {
		t.Fatalf("probes: %v, breaker %s", byStatus, p.breakerState("payments"))
	}
}

// A hanging endpoint with per_try_timeout 100ms: requests succeed through
// the other one, and the hung one is ejected for local failures.
func TestHangingEndpointPerTryTimeout(t *testing.T) {
	t.Parallel()
	good, hung := newSwitchable(t, "good"), newSwitchable(t, "hung")
	hung.hang.Store(true)
	p := startSidecar(t, resilienceYAML(`    lb: round_robin
    timeout: 5s
    retries:
      attempts: 1
      per_try_timeout: 100ms
    outlier:
      base_ejection_time: 5m
`, good.addr(), hung.addr()))
	start := time.Now()
	byStatus, _ := sequential(t, p.url("payments", "/"), 20)
	if byStatus[200] != 20 {
		t.Fatalf("statuses %v, want 20 × 200", byStatus)
	}
	e := p.endpointView("payments", hung.addr())
	if !e.Ejected || e.EjectionReason != "consecutive_local_failure" {
		t.Fatalf("hung endpoint: %+v", e)
	}
	if hung.hits.Load() != 5 {
		t.Fatalf("hung endpoint got %d requests, want 5", hung.hits.Load())
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("20 requests took %v: the per-try timeout did not cut the hung tries", took)
	}
}

// POST with a 1 MiB body is not retried; GET is.
func TestRetriesRespectMethodAndBody(t *testing.T) {
	t.Parallel()
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	a.status.Store(503)
	b.status.Store(503)
	p := startSidecar(t, resilienceYAML(`    outlier: {enabled: false}
    circuit_breaker: {min_requests: 1000}
`, a.addr(), b.addr()))
	hits := func() int64 { return a.hits.Load() + b.hits.Load() }

	big := bytes.Repeat([]byte("x"), 1<<20)
	for _, c := range []struct {
		method string
		body   []byte
		tries  int64
	}{
		{"GET", nil, 2},
		{"POST", big, 1},
		{"POST", []byte("small"), 1}, // not idempotent
		{"PUT", []byte("small"), 2},  // idempotent, replayable
		{"PUT", big, 1},              // idempotent, but too big to replay
	} {
		before := hits()
		req, _ := http.NewRequest(c.method, p.url("payments", "/"), bytes.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := hits() - before; got != c.tries || resp.StatusCode != 503 {
			t.Errorf("%s with %d bytes: %d tries, status %d; want %d tries", c.method, len(c.body), got, resp.StatusCode, c.tries)
		}
	}
}

// A steady 503 storm from every endpoint: retries stay within the budget
// (20 % of requests + 10/s over 10 s), counted at the backends, and the
// responses the budget refused say so.
func TestRetryBudgetCapsAStorm(t *testing.T) {
	t.Parallel()
	a, b, c := newSwitchable(t, "a"), newSwitchable(t, "b"), newSwitchable(t, "c")
	for _, s := range []*switchable{a, b, c} {
		s.status.Store(503)
	}
	p := startSidecar(t, resilienceYAML(`    retries: {attempts: 2}
    outlier: {enabled: false}
    circuit_breaker: {min_requests: 1000000}
`, a.addr(), b.addr(), c.addr()))
	const n = 2000
	url := p.url("payments", "/")
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	exhausted := 0
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Outrigger-Error") == "retry_budget_exhausted" {
			exhausted++
		}
	}
	total := a.hits.Load() + b.hits.Load() + c.hits.Load()
	retries := total - n
	// Without a budget, 2 extra tries each would be 4,000 retries.
	if limit := int64(n*20/100 + 10*10); retries > limit {
		t.Fatalf("%d retries for %d requests, budget allows %d", retries, n, limit)
	}
	if retries < 100 || exhausted == 0 {
		t.Fatalf("retries %d, budget-refused responses %d: the budget was not exercised", retries, exhausted)
	}
	if v := metricValue(t, p.admin, `outrigger_retries_total{upstream="payments"}`); int64(v) != retries {
		t.Fatalf("retries_total %v, backends counted %d", v, retries)
	}
	if v := metricValue(t, p.admin, `outrigger_local_replies_total{reason="retry_budget_exhausted",upstream="payments"}`); int(v) != exhausted {
		t.Fatalf("local_replies retry_budget_exhausted %v, clients saw %d", v, exhausted)
	}
}

// max_requests concurrent requests are in flight: the next one is
// answered at once with 503 overflow, and a slot frees when one finishes.
func TestConcurrencyCapOverflow(t *testing.T) {
	t.Parallel()
	gated, release := newGatedInstance(t)
	p := startSidecar(t, resilienceYAML(`    circuit_breaker: {max_requests: 2}
`, gated.addr()))
	done := make(chan int, 2)
	for range 2 {
		go func() {
			status, _, _ := getBodyNoFail(p.url("payments", "/"))
			done <- status
		}()
	}
	waitFor(t, 5*time.Second, func() bool { return gated.active.Load() == 2 }, "2 requests in flight")
	status, hdr, _ := getBody(t, p.url("payments", "/"))
	if status != 503 || hdr.Get("X-Outrigger-Error") != "overflow" {
		t.Fatalf("third request: %d %q, want 503 overflow", status, hdr.Get("X-Outrigger-Error"))
	}
	close(release)
	for range 2 {
		if s := <-done; s != 200 {
			t.Fatalf("in-flight request: %d", s)
		}
	}
	if status, _, body := getBody(t, p.url("payments", "/")); status != 200 || body != "done" {
		t.Fatalf("after the slots freed: %d %q", status, body)
	}
	if v := metricValue(t, p.admin, `outrigger_local_replies_total{reason="overflow",upstream="payments"}`); v != 1 {
		t.Fatalf("overflow counted %v times", v)
	}
}
