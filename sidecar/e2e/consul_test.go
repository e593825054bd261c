package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitEndpoints polls /upstreams until upstream lists exactly want.
func waitEndpoints(t *testing.T, p *sidecarProc, upstream string, within time.Duration, want ...string) {
	t.Helper()
	waitFor(t, within, func() bool { return sameSet(p.endpointsOf(upstream), want) },
		fmt.Sprintf("%s endpoints to be %v", upstream, want))
}

func TestConsulDiscoveryFollowsChanges(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	a, b, c, d := newInstance(t, "a", 0), newInstance(t, "b", 0), newInstance(t, "c", 0), newInstance(t, "d", 0)
	consul.register("payments", "payments-a", a.addr())
	consul.register("payments", "payments-b", b.addr())
	consul.register("payments", "payments-c", c.addr())
	consul.register("ledger", "ledger-1", d.addr()) // another service: never used by payments

	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: payments
    listen: 127.0.0.1:0
    lb: round_robin
`))
	waitEndpoints(t, p, "payments", 5*time.Second, a.addr(), b.addr(), c.addr())
	if status, _, _ := getBody(t, "http://"+p.admin+"/ready"); status != 200 {
		t.Fatalf("/ready = %d after discovery", status)
	}
	got, bad := drive(t, p.url("payments", "/"), 90, 3)
	if len(bad) > 0 || got["a"] != 30 || got["b"] != 30 || got["c"] != 30 || got["d"] != 0 {
		t.Fatalf("shares %v bad %v", got, bad)
	}
	if u := p.upstreams().Upstreams[0]; u.Discovery != "consul" || u.Endpoints[0].ID == u.Endpoints[0].Address {
		t.Fatalf("upstream view: %+v", u)
	}

	// Deregistered: gone within 2 s, and then it gets nothing.
	consul.deregister("payments-a")
	waitEndpoints(t, p, "payments", 2*time.Second, b.addr(), c.addr())
	before := a.hits.Load()
	if _, bad := drive(t, p.url("payments", "/"), 60, 3); len(bad) > 0 {
		t.Fatalf("failures after deregistration: %v", bad)
	}
	if a.hits.Load() != before {
		t.Fatal("a deregistered instance still got requests")
	}

	// Check critical: likewise.
	consul.setCritical("payments-b")
	waitEndpoints(t, p, "payments", 2*time.Second, c.addr())
	before = b.hits.Load()
	drive(t, p.url("payments", "/"), 30, 3)
	if b.hits.Load() != before {
		t.Fatal("an instance with a critical check still got requests")
	}

	// A new instance: used within 2 s.
	consul.register("payments", "payments-d", d.addr())
	waitEndpoints(t, p, "payments", 2*time.Second, c.addr(), d.addr())
	got, _ = drive(t, p.url("payments", "/"), 40, 2)
	if got["d"] != 20 {
		t.Fatalf("new instance got %d of 40 round-robin requests: %v", got["d"], got)
	}
}

func TestConsulTagFilter(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	v1, v2a, v2b := newInstance(t, "v1", 0), newInstance(t, "v2a", 0), newInstance(t, "v2b", 0)
	consul.register("payments", "p-v1", v1.addr(), "v1")
	consul.register("payments", "p-v2a", v2a.addr(), "v2", "canary")
	consul.register("payments", "p-v2b", v2b.addr(), "v2")
	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: payments-v2
    service: payments
    listen: 127.0.0.1:0
    tags: [v2]
  - name: payments-canary
    service: payments
    listen: 127.0.0.1:0
    tags: [v2, canary]
`))
	waitEndpoints(t, p, "payments-v2", 5*time.Second, v2a.addr(), v2b.addr())
	waitEndpoints(t, p, "payments-canary", 5*time.Second, v2a.addr())
	got, bad := drive(t, p.url("payments-v2", "/"), 60, 4)
	if len(bad) > 0 || got["v1"] != 0 || got["v2a"]+got["v2b"] != 60 {
		t.Fatalf("tag v2: %v %v", got, bad)
	}
}

// Blocking, not polling: with nothing changing for 20 s, the sidecar asks
// Consul at most twice per upstream (the first read, then one blocking
// query that is still waiting), counted at the Consul side.
func TestConsulIdleCostsAlmostNothing(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	proxy := newCountingProxy(t, consul.Addr())
	a := newInstance(t, "a", 0)
	consul.register("payments", "payments-a", a.addr())
	consul.register("ledger", "ledger-a", a.addr())
	p := startSidecar(t, consulYAML(proxy.addr, "", `  - name: payments
    listen: 127.0.0.1:0
  - name: ledger
    listen: 127.0.0.1:0
`))
	waitEndpoints(t, p, "payments", 5*time.Second, a.addr())
	waitEndpoints(t, p, "ledger", 5*time.Second, a.addr())
	start := map[string]int{"payments": proxy.count("payments"), "ledger": proxy.count("ledger")}
	idle := time.Now().Add(20 * time.Second)
	for time.Now().Before(idle) { // traffic through the sidecar must not cause queries either
		drive(t, p.url("payments", "/"), 10, 2)
		time.Sleep(500 * time.Millisecond) // pacing of the background traffic, not a wait for state
	}
	for _, svc := range []string{"payments", "ledger"} {
		if total := proxy.count(svc); total > 2 {
			t.Errorf("%s: %d health queries in 20 s idle (%d before idling), want <= 2", svc, total, start[svc])
		}
	}
}

// Consul goes away: the sidecar keeps serving the last set, counts errors,
// fails no request. Consul comes back (a fresh dev agent: its index starts
// again from low, a real index reset): changes flow without a restart.
func TestConsulOutageKeepsServing(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	a, b := newInstance(t, "a", 0), newInstance(t, "b", 0)
	consul.register("payments", "payments-a", a.addr())
	p := startSidecar(t, consulYAML(consul.Addr(), "", `  - name: payments
    listen: 127.0.0.1:0
`))
	// Churn first, so the sidecar's index is well above anything the
	// restarted agent will have: a watch that waited on the old index would
	// block for the whole wait_time.
	for i := range 15 {
		consul.register("payments", fmt.Sprintf("churn-%d", i), b.addr())
		consul.deregister(fmt.Sprintf("churn-%d", i))
	}
	waitEndpoints(t, p, "payments", 5*time.Second, a.addr())

	consul.Stop()
	waitFor(t, 10*time.Second, func() bool {
		return metricValue(t, p.admin, `outrigger_discovery_errors_total{upstream="payments"}`) >= 2
	}, "discovery errors to rise while Consul is down")
	got, bad := drive(t, p.url("payments", "/"), 200, 4)
	if len(bad) > 0 || got["a"] != 200 {
		t.Fatalf("during the outage: %v bad %v", got, bad)
	}
	if eps := p.endpointsOf("payments"); !sameSet(eps, []string{a.addr()}) {
		t.Fatalf("endpoints during the outage: %v", eps)
	}

	consul.Restart()
	consul.register("payments", "payments-a", a.addr())
	consul.register("payments", "payments-b", b.addr())
	waitEndpoints(t, p, "payments", 20*time.Second, a.addr(), b.addr())
	got, bad = drive(t, p.url("payments", "/"), 100, 4)
	if len(bad) > 0 || got["b"] == 0 {
		t.Fatalf("after the outage: %v bad %v", got, bad)
	}
}

// Start-up with Consul down and a snapshot file written by an earlier run:
// the sidecar is ready and serves the snapshot's endpoints.
func TestConsulDownAtStartServesSnapshot(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	a := newInstance(t, "a", 0)
	consul.register("payments", "payments-a", a.addr())
	snap := filepath.Join(t.TempDir(), "endpoints.json")
	cfg := consulYAML(consul.Addr(), "  snapshot_file: "+snap+"\n", `  - name: payments
    listen: 127.0.0.1:0
`)
	first := startSidecar(t, cfg)
	waitEndpoints(t, first, "payments", 5*time.Second, a.addr())
	waitFor(t, 5*time.Second, func() bool {
		b, err := os.ReadFile(snap)
		return err == nil && strings.Contains(string(b), a.addr())
	}, "the snapshot file to be written")
	if code := first.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("first run exited %d", code)
	}
	consul.Stop()

	second := startSidecar(t, cfg)
	waitFor(t, 10*time.Second, func() bool {
		status, _, _ := getBodyNoFail("http://" + second.admin + "/ready")
		return status == 200
	}, "/ready from the snapshot")
	got, bad := drive(t, second.url("payments", "/"), 50, 2)
	if len(bad) > 0 || got["a"] != 50 {
		t.Fatalf("from the snapshot: %v bad %v", got, bad)
	}
}

func TestConsulReadyWaitsForFirstResult(t *testing.T) {
	t.Parallel()
	p := startSidecar(t, consulYAML(closedAddr(t), "", `  - name: payments
    listen: 127.0.0.1:0
`))
	status, _, body := getBody(t, "http://"+p.admin+"/ready")
	if status != 503 || !strings.Contains(body, "payments") {
		t.Fatalf("/ready = %d %q, want 503 naming payments", status, body)
	}
	status, hdr, _ := getBody(t, p.url("payments", "/"))
	if status != 503 || hdr.Get("X-Outrigger-Error") != "no_healthy_upstream" {
		t.Fatalf("request before discovery: %d %q", status, hdr.Get("X-Outrigger-Error"))
	}
}

// metricValue reads one sample from /metrics (0 when absent).
func metricValue(t *testing.T, admin, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, admin), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}
