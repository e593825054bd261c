package e2e

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Consul weights, health: passing_or_warning and slow_start, end to end:
// a real Consul dev agent, the real binary, real backends (docs/balancing.md).
func TestWeightsHealthAndSlowStart(t *testing.T) {
	t.Parallel()
	t.Run("slow start", testSlowStartE2E)
	t.Run("consul weights", testConsulWeightsE2E)
	t.Run("warning fallback", testWarningFallbackE2E)
}

// registerWeighted registers an instance with Consul weights and a TTL
// check that passes until setCheck says otherwise.
func registerWeighted(t *testing.T, c *consulAgent, service, id, addr string, passing, warning int) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	err := c.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: service, Address: host, Port: p,
		Weights: &api.AgentWeights{Passing: passing, Warning: warning},
		Check:   &api.AgentServiceCheck{CheckID: "check-" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
}

func setCheck(t *testing.T, c *consulAgent, id, status string) {
	t.Helper()
	if err := c.Client().Agent().UpdateTTL("check-"+id, "set by the test", status); err != nil {
		t.Fatalf("check of %s to %s: %v", id, status, err)
	}
}

// hit is one answered request: when it was sent (since the load started)
// and which backend answered.
type hit struct {
	at   time.Duration
	body string
}

// paced sends GETs to url from `workers` goroutines, each at most one per
// `every`, for d (bounded by time, so by count too), and returns what
// answered when. Non-200 answers fail the test.
func paced(t *testing.T, url string, workers int, every, d time.Duration) []hit {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	start := time.Now()
	var (
		mu   sync.Mutex
		hits []hit
		bad  []string
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for ; time.Since(start) < d; <-tick.C {
				at := time.Since(start)
				resp, err := client.Get(url)
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == 200 {
					hits = append(hits, hit{at, string(b)})
				} else {
					bad = append(bad, resp.Status)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d requests failed: %v", len(bad), bad[:min(len(bad), 5)])
	}
	return hits
}

// shareIn is the share of the hits in [from, to) that body answered.
func shareIn(hits []hit, body string, from, to time.Duration) (float64, int) {
	var n, mine int
	for _, h := range hits {
		if h.at >= from && h.at < to {
			n++
			if h.body == body {
				mine++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(mine) / float64(n), n
}

// A 4th endpoint that joins with slow_start: 10s gets at most 40% of a
// fair share (1/4) in its first 2 s, and a fair share ±25% from 11 s to 14 s.
func testSlowStartE2E(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	a, b, c, d := newInstance(t, "a", 0), newInstance(t, "b", 0), newInstance(t, "c", 0), newInstance(t, "d", 0)
	consul.register("payments", "payments-a", a.addr())
	consul.register("payments", "payments-b", b.addr())
	consul.register("payments", "payments-c", c.addr())
	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: payments
    listen: 127.0.0.1:0
    slow_start: 10s
`))
	waitEndpoints(t, p, "payments", 5*time.Second, a.addr(), b.addr(), c.addr())
	if ev := p.endpointView("payments", a.addr()); ev.SlowStartUntil != "" || ev.Weight != 1 || ev.Health != "passing" {
		t.Fatalf("an endpoint of the first result: %+v, want weight 1, passing, not ramping", ev)
	}

	consul.register("payments", "payments-d", d.addr())
	waitEndpoints(t, p, "payments", 2*time.Second, a.addr(), b.addr(), c.addr(), d.addr())
	if ev := p.endpointView("payments", d.addr()); ev.SlowStartUntil == "" {
		t.Fatalf("the joining endpoint shows no slow_start_until: %+v", ev)
	}
	// Two clients at up to 200 requests per second each.
	hits := paced(t, p.url("payments", "/"), 2, 5*time.Millisecond, 14*time.Second)
	early, n1 := shareIn(hits, "d", 0, 2*time.Second)
	late, n2 := shareIn(hits, "d", 11*time.Second, 14*time.Second)
	t.Logf("d's share: %.3f of %d requests in its first 2 s, %.3f of %d from 11 s to 14 s", early, n1, late, n2)
	if n1 < 200 || n2 < 300 {
		t.Fatalf("too few requests to judge: %d and %d", n1, n2)
	}
	if early > 0.4*0.25 {
		t.Errorf("d got %.3f of the requests in its first 2 s, want <= 40%% of a fair 1/4", early)
	}
	if late < 0.75*0.25 || late > 1.25*0.25 {
		t.Errorf("d got %.3f of the requests from 11 s to 14 s, want 1/4 ±25%%", late)
	}
	if ev := p.endpointView("payments", d.addr()); ev.SlowStartUntil != "" {
		t.Errorf("d still ramping after its window: %+v", ev)
	}
}

// Consul weights 10:1 give about 10:1 under least_conn (sequential
// requests) and round_robin.
func testConsulWeightsE2E(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	heavy, light := newInstance(t, "heavy", 0), newInstance(t, "light", 0)
	registerWeighted(t, consul, "payments", "payments-heavy", heavy.addr(), 10, 1)
	registerWeighted(t, consul, "payments", "payments-light", light.addr(), 1, 1)
	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: lc
    service: payments
    listen: 127.0.0.1:0
  - name: rr
    service: payments
    listen: 127.0.0.1:0
    lb: round_robin
`))
	waitEndpoints(t, p, "lc", 5*time.Second, heavy.addr(), light.addr())
	waitEndpoints(t, p, "rr", 5*time.Second, heavy.addr(), light.addr())
	if ev := p.endpointView("lc", heavy.addr()); ev.Weight != 10 {
		t.Fatalf("heavy endpoint's /upstreams entry %+v, want weight 10", ev)
	}
	for _, tc := range []struct {
		upstream string
		clients  int
	}{{"lc", 1}, {"rr", 4}} {
		const n = 2200
		got, bad := drive(t, p.url(tc.upstream, "/"), n, tc.clients)
		if len(bad) > 0 {
			t.Fatalf("%s: %d requests failed: %v", tc.upstream, len(bad), bad[:min(len(bad), 5)])
		}
		ratio := float64(got["heavy"]) / float64(max(got["light"], 1))
		t.Logf("%s: %v, ratio %.2f", tc.upstream, got, ratio)
		if ratio < 7 || ratio > 14 {
			t.Errorf("%s: heavy:light = %.2f (%v), want ~10", tc.upstream, ratio, got)
		}
	}
}

// health: passing_or_warning sends to a warning instance once the only
// passing one goes critical; the default, passing, answers 503
// no_healthy_upstream instead. Both upstreams watch the same service.
func testWarningFallbackE2E(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	pass, warn := newInstance(t, "pass", 0), newInstance(t, "warn", 0)
	consul.register("payments", "payments-pass", pass.addr())
	consul.register("payments", "payments-warn", warn.addr())
	setCheck(t, consul, "payments-warn", api.HealthWarning)
	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: strict
    service: payments
    listen: 127.0.0.1:0
  - name: lenient
    service: payments
    listen: 127.0.0.1:0
    health: passing_or_warning
`))
	waitEndpoints(t, p, "strict", 5*time.Second, pass.addr())
	waitEndpoints(t, p, "lenient", 5*time.Second, pass.addr(), warn.addr())
	if ev := p.endpointView("lenient", warn.addr()); ev.Health != "warning" {
		t.Fatalf("warning instance's /upstreams entry %+v, want health warning", ev)
	}
	for _, up := range []string{"strict", "lenient"} {
		got, bad := drive(t, p.url(up, "/"), 50, 2)
		if len(bad) > 0 || got["pass"] != 50 {
			t.Fatalf("%s with a passing instance: %v %v, want all 50 on pass", up, got, bad)
		}
	}

	setCheck(t, consul, "payments-pass", api.HealthCritical)
	waitFor(t, 5*time.Second, func() bool {
		_, _, body := getBody(t, p.url("lenient", "/"))
		return body == "warn"
	}, "lenient to fall back to the warning instance")
	if got, bad := drive(t, p.url("lenient", "/"), 50, 2); len(bad) > 0 || got["warn"] != 50 {
		t.Fatalf("lenient with no passing instance: %v %v, want all 50 on warn", got, bad)
	}
	waitEndpoints(t, p, "strict", 5*time.Second)
	before := warn.hits.Load()
	status, hdr, _ := getBody(t, p.url("strict", "/"))
	if status != 503 || hdr.Get("X-Outrigger-Error") != "no_healthy_upstream" || warn.hits.Load() != before {
		t.Fatalf("strict with only a warning instance: %d %q, want 503 no_healthy_upstream and no request to it",
			status, hdr.Get("X-Outrigger-Error"))
	}

	setCheck(t, consul, "payments-pass", api.HealthPassing)
	waitEndpoints(t, p, "strict", 5*time.Second, pass.addr())
	waitFor(t, 5*time.Second, func() bool {
		_, _, body := getBody(t, p.url("lenient", "/"))
		return body == "pass"
	}, "lenient to go back to the passing instance")
	if got, bad := drive(t, p.url("lenient", "/"), 50, 2); len(bad) > 0 || got["pass"] != 50 {
		t.Fatalf("lenient with the passing instance back: %v %v, want all 50 on pass", got, bad)
	}
	if n := strings.Count(p.logs.String(), "no passing endpoint left"); n != 1 {
		t.Errorf("%d fallback log lines, want 1", n)
	}
}
