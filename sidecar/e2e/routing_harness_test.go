package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenerView is one item of /upstreams' "listeners" (decoded here, so
// these tests do not depend on the admin package's Go types).
type listenerView struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Protocol string      `json:"protocol"`
	NoRoute  uint64      `json:"no_route"`
	Routes   []routeView `json:"routes"`
}

type routeView struct {
	Name  string `json:"name"`
	Match struct {
		Host       string            `json:"host"`
		PathPrefix string            `json:"path_prefix"`
		Path       string            `json:"path"`
		PathRegex  string            `json:"path_regex"`
		Headers    map[string]string `json:"headers"`
		Methods    []string          `json:"methods"`
	} `json:"match"`
	Targets     []targetView `json:"targets"`
	StripPrefix bool         `json:"strip_prefix"`
	Requests    uint64       `json:"requests"`
}

type targetView struct {
	Upstream string `json:"upstream"`
	Weight   int    `json:"weight"`
	Requests uint64 `json:"requests"`
}

// listeners is /upstreams' "listeners" array.
func (p *sidecarProc) listeners() []listenerView {
	p.t.Helper()
	var body struct {
		Listeners []listenerView `json:"listeners"`
	}
	getJSON(p.t, "http://"+p.admin+"/upstreams", &body)
	return body.Listeners
}

// findListener is /upstreams' view of the listener named name.
func (p *sidecarProc) findListener(name string) (listenerView, bool) {
	p.t.Helper()
	for _, l := range p.listeners() {
		if l.Name == name {
			return l, true
		}
	}
	return listenerView{}, false
}

// listenerAddr polls /upstreams until the routing listener name shows a
// bound address (a real port, not :0) and returns it.
func (p *sidecarProc) listenerAddr(name string) string {
	p.t.Helper()
	var addr string
	waitFor(p.t, 10*time.Second, func() bool {
		l, ok := p.findListener(name)
		if !ok {
			return false
		}
		_, port, err := net.SplitHostPort(l.Listen)
		if err != nil || port == "" || port == "0" {
			return false
		}
		addr = l.Listen
		return true
	}, "listener "+name+" to show its bound address in /upstreams")
	return addr
}

// routeOf returns the route named route of listener name in /upstreams.
func (p *sidecarProc) routeOf(listener, route string) routeView {
	p.t.Helper()
	l, ok := p.findListener(listener)
	if !ok {
		p.t.Fatalf("no listener %q in /upstreams", listener)
	}
	for _, r := range l.Routes {
		if r.Name == route {
			return r
		}
	}
	p.t.Fatalf("no route %q in listener %q: %+v", route, listener, l.Routes)
	return routeView{}
}

// routingYAML renders a config: the given upstreams and listeners blocks
// (each already indented as items of their lists), extra top-level keys
// first (consul:, ...).
func routingYAML(extra, upstreams, listeners string) string {
	return "service:\n  name: edge-proxy\nadmin:\n  listen: 127.0.0.1:0\ndrain_timeout: 10s\n" + extra +
		"upstreams:\n" + upstreams + "listeners:\n" + listeners
}

// staticUpstream renders an upstream item with static endpoints and no
// listen of its own (routes name it).
func staticUpstream(name string, eps ...string) string {
	q := make([]string, len(eps))
	for i, e := range eps {
		q[i] = fmt.Sprintf("%q", e)
	}
	return fmt.Sprintf("  - name: %s\n    lb: round_robin\n    connect_timeout: 500ms\n    endpoints: [%s]\n", name, strings.Join(q, ", "))
}

// echoBackend is a loopback HTTP backend that answers 200 with its id in
// the body and tells what it received in headers: X-Backend (its id),
// X-Seen-URI (the request target as it arrived), X-Seen-Method.
type echoBackend struct {
	id   string
	addr string
	hits atomic.Int64
}

func newEchoBackend(t *testing.T, id string) *echoBackend {
	t.Helper()
	b := &echoBackend{id: id}
	b.addr = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", id)
		w.Header().Set("X-Seen-URI", r.RequestURI)
		w.Header().Set("X-Seen-Method", r.Method)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, id)
	}))
	return b
}

// routedReply is what one request through a routing listener came back with.
type routedReply struct {
	status  int
	errCode string // X-Outrigger-Error
	body    string
	hdr     http.Header
}

func (r routedReply) String() string {
	return fmt.Sprintf("%d %q body %q", r.status, r.errCode, r.body)
}

// send makes one request to http://addr+target with Host host and extra
// headers, and returns what came back. target is sent as is (no cleaning).
func send(t *testing.T, client *http.Client, method, addr, host, target string, hdr map[string]string) routedReply {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %q): %v", method, target, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s (Host %q): reading the body: %v", method, target, host, err)
	}
	return routedReply{status: resp.StatusCode, errCode: resp.Header.Get("X-Outrigger-Error"), body: string(b), hdr: resp.Header}
}

// newClient is a keep-alive client for one test, closed at cleanup.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// expectRoute sends one request and checks that it reached backend want
// (by body), or, with want "", that it got 404 no_route.
func expectRoute(t *testing.T, client *http.Client, method, addr, host, target string, hdr map[string]string, want string) routedReply {
	t.Helper()
	r := send(t, client, method, addr, host, target, hdr)
	switch {
	case want == "" && (r.status != 404 || r.errCode != "no_route"):
		t.Errorf("%s %s Host %q headers %v: got %v, want 404 no_route", method, target, host, hdr, r)
	case want != "" && (r.status != 200 || r.body != want || r.errCode != ""):
		t.Errorf("%s %s Host %q headers %v: got %v, want 200 from %q", method, target, host, hdr, r, want)
	}
	return r
}

// waitForMetrics polls admin's /metrics until it has every line of want
// (within 5 s); else it fails, showing the families named.
func waitForMetrics(t *testing.T, admin string, want []string, families ...string) {
	t.Helper()
	var metrics string
	if pollUntil(5*time.Second, func() bool {
		metrics = scrape(t, admin)
		for _, w := range want {
			if !strings.Contains(metrics, w) {
				return false
			}
		}
		return true
	}) {
		return
	}
	for _, w := range want {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	for _, f := range families {
		t.Log(grep(metrics, f))
	}
	t.FailNow()
}
