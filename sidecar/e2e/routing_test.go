package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// Routing listeners (docs/routing.md): one address, many
// upstreams, chosen per request by host, path, headers and method.
//
// None of these tests is parallel: they run before the parallel ones
// start, so their load (thousands of requests, a sidecar each) never
// lands on the cores the latency-sensitive parallel tests measure on
// (TestBreakerOpensAndCloses' p99 of local replies).

// A route on host and path_prefix reaches every endpoint of its upstream,
// whatever the case and port of the request's Host; any other host or path
// gets 404 no_route; a path with dot segments is refused 400 before routing.
func TestRoutingHostAndPathPrefix(t *testing.T) {
	u1, u2, u3 := newEchoBackend(t, "user-1"), newEchoBackend(t, "user-2"), newEchoBackend(t, "user-3")
	p := startSidecar(t, routingYAML("", staticUpstream("user-service", u1.addr, u2.addr, u3.addr), `  - name: edge
    listen: 127.0.0.1:0
    protocol: http
    routes:
      - name: api
        match: {host: user-service.example.com, path_prefix: /api/}
        upstream: user-service
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)

	hosts := []string{"user-service.example.com", "User-Service.Example.com:8080", "USER-SERVICE.EXAMPLE.COM", "user-service.example.com:80"}
	seen := map[string]int{}
	const n = 30
	for i := range n {
		target := fmt.Sprintf("/api/users/%d?q=%d", i, i)
		r := send(t, client, "GET", addr, hosts[i%len(hosts)], target, nil)
		if r.status != 200 || r.errCode != "" {
			t.Fatalf("GET %s Host %q: %v, want 200 from user-service", target, hosts[i%len(hosts)], r)
		}
		if got := r.hdr.Get("X-Seen-URI"); got != target {
			t.Errorf("GET %s arrived as %q (no strip_prefix: unchanged)", target, got)
		}
		seen[r.body]++
	}
	if seen["user-1"] == 0 || seen["user-2"] == 0 || seen["user-3"] == 0 || seen["user-1"]+seen["user-2"]+seen["user-3"] != n {
		t.Fatalf("the route did not reach all three endpoints: %v", seen)
	}
	t.Logf("shares: %v", seen)

	for _, c := range []struct{ host, target string }{
		{"other.example.com", "/api/users"},
		{"api.user-service.example.com", "/api/users"}, // exact host: no subdomain
		{"user-service.example.com.evil.org", "/api/users"},
		{"user-service.example.co", "/api/users"},
		{"user-service.example.com", "/web/users"},
		{"user-service.example.com", "/"},
		{"user-service.example.com", "/apix/users"},
	} {
		expectRoute(t, client, "GET", addr, c.host, c.target, nil, "")
	}

	// Dot segments, plain or percent-encoded, are refused before routing
	// (so "/api/../admin" can never reach anything "/api/" routes to).
	for _, target := range []string{
		"/api/../admin", "/api/./users", "/api/users/..", "/api/users/.",
		"/api/%2e%2e/admin", "/api/%2E%2e/admin", "/api/.%2e/admin", "/api/%2e/users", "/api/users/%2e%2E",
		"/api/..%2fadmin", "/api/..%2Fadmin", "/api/..%5cadmin", // an escaped separator decodes to one
	} {
		raw := "GET " + target + " HTTP/1.1\r\nHost: user-service.example.com\r\n\r\n"
		resp, body, err := rawExchange(addr, "GET", raw)
		if err != nil || resp.StatusCode != 400 || resp.Header.Get("X-Outrigger-Error") != "bad_request" {
			t.Errorf("GET %s: %s, want 400 bad_request", target, describe(resp, body, err))
		}
	}
	if hits := u1.hits.Load() + u2.hits.Load() + u3.hits.Load(); hits != n {
		t.Fatalf("the backends saw %d requests, want exactly the %d routed ones", hits, n)
	}
}

// "*.example.com" matches any name below example.com (one label or more),
// in any case and with a port, but not example.com itself.
func TestRoutingWildcardHost(t *testing.T) {
	wild, rest := newEchoBackend(t, "wild"), newEchoBackend(t, "rest")
	p := startSidecar(t, routingYAML("", staticUpstream("wild", wild.addr)+staticUpstream("rest", rest.addr), `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: wildcard
        match: {host: "*.example.com"}
        upstream: wild
      - name: fallback
        match: {path_prefix: /}
        upstream: rest
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)
	for _, c := range []struct{ host, want string }{
		{"a.example.com", "wild"},
		{"b.c.example.com", "wild"},
		{"A.Example.COM:8443", "wild"},
		{"x-1.example.com:80", "wild"},
		{"example.com", "rest"},
		{"example.com:8080", "rest"},
		{"notexample.com", "rest"},
		{"a.example.com.evil.org", "rest"},
		{"a.example.org", "rest"},
	} {
		expectRoute(t, client, "GET", addr, c.host, "/x", nil, c.want)
	}
}

// path is an exact match on the path (the query aside); path_regex must
// match the whole path.
func TestRoutingExactPathAndRegex(t *testing.T) {
	h, u := newEchoBackend(t, "health"), newEchoBackend(t, "users")
	p := startSidecar(t, routingYAML("", staticUpstream("health", h.addr)+staticUpstream("users", u.addr), `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: healthz
        match: {path: /healthz}
        upstream: health
      - name: user-by-id
        match: {path_regex: "/users/[0-9]+"}
        upstream: users
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)
	for _, c := range []struct{ target, want string }{
		{"/healthz", "health"},
		{"/healthz?verbose=1", "health"},
		{"/healthz/", ""},
		{"/healthzz", ""},
		{"/v1/healthz", ""},
		{"/users/42", "users"},
		{"/users/7?fields=name", "users"},
		{"/users/42/x", ""},
		{"/users/abc", ""},
		{"/users/", ""},
		{"/users/42x", ""},
		{"/v1/users/42", ""},
	} {
		expectRoute(t, client, "GET", addr, "", c.target, nil, c.want)
	}
}

// headers: every listed header must carry exactly the value (header names
// are case-insensitive); methods: the request's method must be listed.
func TestRoutingHeadersAndMethods(t *testing.T) {
	canary, writer, stable := newEchoBackend(t, "canary"), newEchoBackend(t, "writer"), newEchoBackend(t, "stable")
	p := startSidecar(t, routingYAML("",
		staticUpstream("canary", canary.addr)+staticUpstream("writer", writer.addr)+staticUpstream("stable", stable.addr), `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: canary
        match: {path_prefix: /, headers: {x-canary: "1"}}
        upstream: canary
      - name: writes
        match: {path_prefix: /, methods: [POST, PUT]}
        upstream: writer
      - name: stable
        match: {path_prefix: /}
        upstream: stable
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)
	for _, c := range []struct {
		method string
		hdr    map[string]string
		want   string
	}{
		{"GET", map[string]string{"x-canary": "1"}, "canary"},
		{"GET", map[string]string{"X-CANARY": "1"}, "canary"},
		{"GET", nil, "stable"},
		{"GET", map[string]string{"x-canary": "0"}, "stable"},
		{"GET", map[string]string{"x-canary": "10"}, "stable"},
		{"GET", map[string]string{"x-canary-other": "1"}, "stable"},
		{"POST", map[string]string{"x-canary": "1"}, "canary"},
		{"POST", nil, "writer"},
		{"PUT", map[string]string{"x-canary": "2"}, "writer"},
		{"DELETE", nil, "stable"},
	} {
		r := expectRoute(t, client, c.method, addr, "", "/orders", c.hdr, c.want)
		if m := r.hdr.Get("X-Seen-Method"); r.status == 200 && m != c.method {
			t.Errorf("%s arrived as %s", c.method, m)
		}
	}
	if r := send(t, client, "HEAD", addr, "", "/orders", nil); r.status != 200 || r.hdr.Get("X-Backend") != "stable" {
		t.Errorf("HEAD: %v from %q, want 200 from stable", r, r.hdr.Get("X-Backend"))
	}
}

// strip_prefix removes path_prefix before forwarding; the result always
// starts with "/" and keeps the query; a route without it forwards the
// path unchanged.
func TestRoutingStripPrefix(t *testing.T) {
	e := newEchoBackend(t, "echo")
	p := startSidecar(t, routingYAML("", staticUpstream("echo", e.addr), `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: api
        match: {path_prefix: /api/}
        upstream: echo
        strip_prefix: true
      - name: v2
        match: {path_prefix: /v2}
        upstream: echo
        strip_prefix: true
      - name: raw
        match: {path_prefix: /raw/}
        upstream: echo
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)
	for _, c := range []struct{ target, want string }{
		{"/api/users?q=1", "/users?q=1"},
		{"/api/", "/"},
		{"/api/?q=1", "/?q=1"},
		{"/api/a/b/c", "/a/b/c"},
		{"/api/a%20b", "/a%20b"},
		{"/v2/items", "/items"},
		{"/v2", "/"},
		{"/raw/x?y=2", "/raw/x?y=2"},
	} {
		r := expectRoute(t, client, "GET", addr, "", c.target, nil, "echo")
		if got := r.hdr.Get("X-Seen-URI"); r.status == 200 && got != c.want {
			t.Errorf("GET %s arrived as %q, want %q", c.target, got, c.want)
		}
	}
}

// A request no route takes gets the local 404 no_route, counted with
// route="" in outrigger_listener_requests_total; a routed one is counted
// under its route, and in the upstream's own metrics as before.
func TestRoutingNoRouteAndListenerMetrics(t *testing.T) {
	svc := newEchoBackend(t, "svc")
	p := startSidecar(t, routingYAML("", staticUpstream("svc", svc.addr), `  - name: edge
    listen: 127.0.0.1:0
    protocol: http
    routes:
      - name: api
        match: {host: api.example.com, path_prefix: /api/, methods: [GET]}
        upstream: svc
      - match: {path: /status}
        upstream: svc
`))
	addr := p.listenerAddr("edge")
	client := newClient(t)
	for range 3 {
		r := send(t, client, "GET", addr, "api.example.com", "/nope", nil)
		if r.status != 404 || r.errCode != "no_route" || r.hdr.Get("X-Backend") != "" || r.body == "svc" {
			t.Fatalf("unrouted request: %v (from %q), want the sidecar's 404 no_route", r, r.hdr.Get("X-Backend"))
		}
	}
	for range 5 {
		expectRoute(t, client, "GET", addr, "api.example.com", "/api/x", nil, "svc")
	}
	for range 2 {
		expectRoute(t, client, "GET", addr, "", "/status", nil, "svc")
	}
	resp, body, err := rawExchange(addr, "GET", "GET /api/../admin HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
	if err != nil || resp.StatusCode != 400 || resp.Header.Get("X-Outrigger-Error") != "bad_request" {
		t.Fatalf("GET /api/../admin: %s, want 400 bad_request", describe(resp, body, err))
	}
	if hits := svc.hits.Load(); hits != 7 {
		t.Fatalf("the backend saw %d requests, want the 7 routed ones", hits)
	}

	want := []string{
		`outrigger_listener_requests_total{code="404",listener="edge",route=""} 3`,
		`outrigger_listener_requests_total{code="400",listener="edge",route=""} 1`,
		`outrigger_listener_requests_total{code="200",listener="edge",route="api"} 5`,
		`outrigger_listener_requests_total{code="200",listener="edge",route="route-1"} 2`,
		`outrigger_upstream_requests_total{code="200",endpoint="` + svc.addr + `",upstream="svc"} 7`,
	}
	waitForMetrics(t, p.admin, want, "outrigger_listener_requests_total", "outrigger_upstream_requests_total")

	l, ok := p.findListener("edge")
	if !ok {
		t.Fatal("no listener edge in /upstreams")
	}
	if l.Listen != addr || l.Protocol != "http" || l.NoRoute != 3 || len(l.Routes) != 2 {
		t.Fatalf("/upstreams listener: %+v", l)
	}
	api, def := l.Routes[0], l.Routes[1]
	if api.Name != "api" || api.Match.Host != "api.example.com" || api.Match.PathPrefix != "/api/" ||
		len(api.Match.Methods) != 1 || api.Match.Methods[0] != "GET" || api.StripPrefix || api.Requests != 5 ||
		len(api.Targets) != 1 || api.Targets[0].Upstream != "svc" || api.Targets[0].Requests != 5 {
		t.Errorf("/upstreams route api: %+v", api)
	}
	if def.Name != "route-1" || def.Match.Path != "/status" || def.Requests != 2 {
		t.Errorf("/upstreams route route-1: %+v", def)
	}
	// An upstream only routes name has no listener of its own.
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var rec struct{ Msg, Upstream, Addr string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" || rec.Upstream != "svc" {
			continue
		}
		if _, _, err := net.SplitHostPort(rec.Addr); err == nil {
			t.Errorf("upstream svc, without listen, opened a listener of its own: %s", line)
		}
	}
}

// A 90/10 split sends 90% ± 2.5 points of 4,000 requests to the first
// upstream; /upstreams and the upstreams' own metrics agree with the
// backends' counts.
func TestRoutingWeightedSplit(t *testing.T) {
	v1, v2 := newInstance(t, "v1", 0), newInstance(t, "v2", 0)
	p := startSidecar(t, routingYAML("", staticUpstream("web-v1", v1.addr())+staticUpstream("web-v2", v2.addr()), `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: web
        match: {path_prefix: /}
        split:
          - {upstream: web-v1, weight: 90}
          - {upstream: web-v2, weight: 10}
`))
	addr := p.listenerAddr("edge")
	const n = 4000
	got, bad := drive(t, "http://"+addr+"/", n, 8)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed: %v", len(bad), bad[:min(len(bad), 10)])
	}
	if got["v1"]+got["v2"] != n {
		t.Fatalf("served %d of %d: %v", got["v1"]+got["v2"], n, got)
	}
	share := float64(got["v1"]) / n
	if math.Abs(share-0.9) > 0.025 {
		t.Fatalf("web-v1 got %.3f of the requests, want 0.900 ± 0.025 (%v)", share, got)
	}
	t.Logf("split: %v (%.3f)", got, share)

	r := p.routeOf("edge", "web")
	weights := map[string]int{}
	reqs := map[string]uint64{}
	for _, tg := range r.Targets {
		weights[tg.Upstream], reqs[tg.Upstream] = tg.Weight, tg.Requests
	}
	if weights["web-v1"] != 90 || weights["web-v2"] != 10 || r.Requests != n ||
		reqs["web-v1"] != uint64(got["v1"]) || reqs["web-v2"] != uint64(got["v2"]) {
		t.Errorf("/upstreams route web: %+v, want weights 90/10 and requests %v", r, got)
	}
	for _, c := range []struct {
		up, ep, name string
	}{{"web-v1", v1.addr(), "v1"}, {"web-v2", v2.addr(), "v2"}} {
		series := `outrigger_upstream_requests_total{code="200",endpoint="` + c.ep + `",upstream="` + c.up + `"}`
		if v := metricValue(t, p.admin, series); v != float64(got[c.name]) {
			t.Errorf("%s = %v, want %d", series, v, got[c.name])
		}
	}
}

// A canary: two upstreams on one Consul service, told apart by tags, split
// 50/50. Each gets its share, and only its own instances serve it.
func TestRoutingSplitBetweenConsulTagSubsets(t *testing.T) {
	consul := startConsul(t)
	v1a, v1b := newInstance(t, "v1-a", 0), newInstance(t, "v1-b", 0)
	v2a, v2b := newInstance(t, "v2-a", 0), newInstance(t, "v2-b", 0)
	untagged, otherSvc := newInstance(t, "untagged", 0), newInstance(t, "other-service", 0)
	consul.register("web", "web-v1-a", v1a.addr(), "v1")
	consul.register("web", "web-v1-b", v1b.addr(), "v1", "blue")
	consul.register("web", "web-v2-a", v2a.addr(), "v2")
	consul.register("web", "web-v2-b", v2b.addr(), "v2", "green")
	consul.register("web", "web-untagged", untagged.addr())
	consul.register("api", "api-v1", otherSvc.addr(), "v1") // another service with the same tag

	p := startSidecar(t, routingYAML("consul:\n  address: "+consul.Addr()+"\n", `  - name: web-v1
    service: web
    tags: [v1]
    lb: round_robin
  - name: web-v2
    service: web
    tags: [v2]
    lb: round_robin
`, `  - name: edge
    listen: 127.0.0.1:0
    routes:
      - name: canary
        match: {path_prefix: /}
        split:
          - {upstream: web-v1, weight: 50}
          - {upstream: web-v2, weight: 50}
`))
	waitEndpoints(t, p, "web-v1", 10*time.Second, v1a.addr(), v1b.addr())
	waitEndpoints(t, p, "web-v2", 10*time.Second, v2a.addr(), v2b.addr())
	addr := p.listenerAddr("edge")

	const n = 800
	got, bad := drive(t, "http://"+addr+"/", n, 4)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed: %v", len(bad), bad[:min(len(bad), 10)])
	}
	v1, v2 := got["v1-a"]+got["v1-b"], got["v2-a"]+got["v2-b"]
	if v1+v2 != n || got["untagged"] != 0 || got["other-service"] != 0 {
		t.Fatalf("served %v, want all %d by the four tagged instances of web", got, n)
	}
	if got["v1-a"] == 0 || got["v1-b"] == 0 || got["v2-a"] == 0 || got["v2-b"] == 0 {
		t.Fatalf("an instance got nothing: %v", got)
	}
	if share := float64(v1) / n; math.Abs(share-0.5) > 0.08 {
		t.Fatalf("web-v1 got %.3f of the requests, want 0.50 ± 0.08 (%v)", share, got)
	}
	if untagged.hits.Load() != 0 || otherSvc.hits.Load() != 0 {
		t.Fatalf("an instance outside both subsets was used")
	}
	// Each upstream counts only its own instances.
	for _, u := range p.upstreams().Upstreams {
		var total uint64
		for _, e := range u.Endpoints {
			total += e.Requests
		}
		switch u.Name {
		case "web-v1":
			if total != uint64(v1) {
				t.Errorf("web-v1 counts %d requests, its instances served %d", total, v1)
			}
		case "web-v2":
			if total != uint64(v2) {
				t.Errorf("web-v2 counts %d requests, its instances served %d", total, v2)
			}
		}
	}
	t.Logf("split: %v", got)
}

// Split weights change by reload (file replaced, then SIGHUP) under a
// steady load from several clients on keep-alive connections: no request
// fails, and requests sent after /upstreams shows the new weights follow
// them.
func TestRoutingSplitWeightReloadUnderLoad(t *testing.T) {
	v1, v2 := newInstance(t, "v1", time.Millisecond), newInstance(t, "v2", time.Millisecond)
	listen := fixedPort(t)
	yaml := func(w1, w2 int) string {
		return routingYAML("", staticUpstream("web-v1", v1.addr())+staticUpstream("web-v2", v2.addr()), fmt.Sprintf(`  - name: edge
    listen: %s
    routes:
      - name: web
        match: {path_prefix: /}
        split:
          - {upstream: web-v1, weight: %d}
          - {upstream: web-v2, weight: %d}
`, listen, w1, w2))
	}
	p := startSidecar(t, yaml(90, 10))
	addr := p.listenerAddr("edge")
	if addr != listen {
		t.Fatalf("listener bound %s, configured %s", addr, listen)
	}

	// Phases: 0 before the reload, 1 while it is being applied (not
	// counted for shares), 2 after /upstreams shows the new weights.
	const workers, maxRequests, wantAfter = 6, 8000, 1200
	var phase atomic.Int32
	var mu sync.Mutex
	counts := [3]map[string]int{{}, {}, {}}
	var failures []string
	total := func(ph int) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[ph]["v1"] + counts[ph]["v2"]
	}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	stop := make(chan struct{})
	var sent atomic.Int64
	deadline := time.Now().Add(45 * time.Second)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= maxRequests && time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				resp, err := client.Get("http://" + addr + "/")
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, "reading the body: "+err.Error())
				case resp.StatusCode != 200:
					failures = append(failures, resp.Status+" "+resp.Header.Get("X-Outrigger-Error"))
				default:
					counts[ph][string(b)]++
				}
				mu.Unlock()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	stopLoad := sync.OnceFunc(func() { close(stop); <-finished })
	defer stopLoad()
	loadDone := func() bool {
		select {
		case <-finished:
			return true
		default:
			return false
		}
	}

	waitFor(t, 15*time.Second, func() bool { return total(0) >= 400 || loadDone() }, "400 requests before the reload")
	if total(0) < 400 {
		t.Fatalf("the load ended with %d requests before the reload", total(0))
	}
	phase.Store(1)
	tmp := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(tmp, []byte(yaml(50, 50)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.configFile); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		w := map[string]int{}
		for _, tg := range p.routeOf("edge", "web").Targets {
			w[tg.Upstream] = tg.Weight
		}
		return w["web-v1"] == 50 && w["web-v2"] == 50
	}, "/upstreams to show the weights 50/50")
	phase.Store(2)
	waitFor(t, 30*time.Second, func() bool { return total(2) >= wantAfter || loadDone() }, "requests after the reload")
	stopLoad()

	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across the reload: %v", len(failures), failures[:min(len(failures), 10)])
	}
	before, after := counts[0], counts[2]
	nb, na := before["v1"]+before["v2"], after["v1"]+after["v2"]
	if na < wantAfter {
		t.Fatalf("only %d requests after the reload (load bounded by %d requests / 45 s): before %v after %v", na, maxRequests, before, after)
	}
	if s := float64(before["v1"]) / float64(nb); math.Abs(s-0.9) > 0.06 {
		t.Errorf("before the reload web-v1 got %.3f, want about 0.90 (%v)", s, before)
	}
	if s := float64(after["v1"]) / float64(na); math.Abs(s-0.5) > 0.06 {
		t.Errorf("after the reload web-v1 got %.3f, want about 0.50 (%v)", s, after)
	}
	t.Logf("before %v, during %v, after %v", before, counts[1], after)
}

// healthBackend is a grpc-go server of the standard health service only
// (not the TestService), answering SERVING and counting calls.
func healthBackend(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		hits.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String(), hits
}

// On a protocol http2 listener, gRPC calls are routed by service (the
// path prefix "/package.Service/"): each reaches the backend that serves
// that service; a service no route names gets 404, which gRPC reads as
// UNIMPLEMENTED, and reaches no backend.
func TestRoutingGRPCByServicePrefix(t *testing.T) {
	test := newGRPCBackend(t, "test-service", false) // grpc.testing.TestService only
	healthAddr, healthHits := healthBackend(t)       // grpc.health.v1.Health only
	p := startSidecar(t, routingYAML("", `  - name: grpc-test
    protocol: http2
    endpoints: ["`+test.addr+`"]
  - name: grpc-health
    protocol: http2
    endpoints: ["`+healthAddr+`"]
`, `  - name: rpc
    listen: 127.0.0.1:0
    protocol: http2
    routes:
      - name: test-service
        match: {path_prefix: /grpc.testing.TestService/}
        upstream: grpc-test
      - name: health
        match: {path_prefix: /grpc.health.v1.Health/}
        upstream: grpc-health
`))
	addr := p.listenerAddr("rpc")
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	testClient := grpc_testing.NewTestServiceClient(cc)
	for i := range 10 {
		if body, err := unaryBody(ctx, testClient); err != nil || body != "test-service" {
			t.Fatalf("UnaryCall %d: %q %v", i, body, err)
		}
	}
	stream, err := testClient.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, stream, 0, 50)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream ended with %v", err)
	}

	healthClient := healthpb.NewHealthClient(cc)
	for i := range 3 {
		resp, err := healthClient.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Health.Check %d: %v %v", i, resp, err)
		}
	}
	if test.hits.Load() != 11 || healthHits.Load() != 3 {
		t.Fatalf("TestService backend saw %d calls (want 11), health backend %d (want 3)", test.hits.Load(), healthHits.Load())
	}

	_, err = grpc_testing.NewUnimplementedServiceClient(cc).UnimplementedCall(ctx, &grpc_testing.Empty{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("a call no route takes: %v, want UNIMPLEMENTED (HTTP 404)", err)
	}
	if test.hits.Load() != 11 || healthHits.Load() != 3 {
		t.Fatalf("the unrouted call reached a backend")
	}

	want := []string{
		`outrigger_listener_requests_total{code="200",listener="rpc",route="test-service"} 11`,
		`outrigger_listener_requests_total{code="200",listener="rpc",route="health"} 3`,
		`outrigger_listener_requests_total{code="404",listener="rpc",route=""} 1`,
	}
	waitForMetrics(t, p.admin, want, "outrigger_listener_requests_total")
}
