package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
)

// recordingSeat records which upstream a request was sent to.
type recordingSeat struct {
	name string
	got  *[]string
}

func (s recordingSeat) ServeVia(w http.ResponseWriter, r *http.Request, via *proxy.Via) {
	*s.got = append(*s.got, s.name)
	w.WriteHeader(http.StatusNoContent)
}

func compile(t testing.TB, routes []config.Route, opts Options) (*Table, *[]string) {
	t.Helper()
	got := &[]string{}
	for i := range routes {
		if routes[i].Name == "" {
			routes[i].Name = config.DefaultRouteName(i)
		}
	}
	tbl, err := Compile(config.Listener{Name: "edge", Protocol: "http", Routes: routes},
		func(name string) Seat { return recordingSeat{name, got} }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, got
}

func to(up string, m config.Match) config.Route { return config.Route{Match: m, Upstream: up} }

func request(method, host, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func TestMatchOrderAndConditions(t *testing.T) {
	tbl, _ := compile(t, []config.Route{
		to("exact-host-api", config.Match{Host: "api.example.com", PathPrefix: "/api/"}),
		to("wild-admin", config.Match{Host: "*.example.com", Path: "/admin"}),
		to("canary", config.Match{PathPrefix: "/api/", Headers: map[string]string{"x-canary": "1"}}),
		to("users", config.Match{PathRegex: "/users/[0-9]+"}),
		to("post-only", config.Match{PathPrefix: "/api/", Methods: []string{"POST"}}),
		to("api-long", config.Match{PathPrefix: "/api/v2/"}),
		to("api", config.Match{PathPrefix: "/api"}),
		to("rest", config.Match{}),
	}, Options{})
	tests := []struct {
		r    *http.Request
		want string
	}{
		{request("GET", "api.example.com", "/api/x"), "exact-host-api"},
		{request("GET", "API.Example.COM:8443", "/api/x"), "exact-host-api"},
		{request("GET", "api.example.com.", "/api/x"), "exact-host-api"},
		{request("GET", "api.example.com", "/admin"), "wild-admin"},                  // the wildcard applies to the exact host's group too
		{request("GET", "a.b.example.com", "/admin"), "wild-admin"},                  // any depth
		{request("GET", "example.com", "/admin"), "rest"},                            // the wildcard needs a label before the suffix
		{request("GET", "other", "/api/x", "X-Canary", "1"), "canary"},               // header names ignore case
		{request("GET", "other", "/api/x", "x-canary", "2"), "api"},                  // a value is exact
		{request("GET", "other", "/api/x", "x-canary", "1", "x-canary", "1"), "api"}, // "1,1" is not "1"
		{request("GET", "other", "/users/42"), "users"},
		{request("GET", "other", "/users/42/x"), "rest"}, // the regex is anchored at both ends
		{request("GET", "other", "/users/abc"), "rest"},
		{request("POST", "other", "/api/x"), "post-only"},
		{request("GET", "other", "/api/v2/x"), "api-long"},
		{request("GET", "other", "/apix"), "api"}, // a prefix is a string prefix
		{request("GET", "other", "/api/x?q=/admin"), "api"},
		{request("GET", "other", "/"), "rest"},
		// an earlier route wins even when a later one has a longer prefix
		{request("POST", "api.example.com", "/api/v2/x"), "exact-host-api"},
	}
	for _, tt := range tests {
		rt := tbl.Match(tt.r)
		if rt == nil || rt.targets[0].Upstream != tt.want {
			got := "<nil>"
			if rt != nil {
				got = rt.targets[0].Upstream
			}
			t.Errorf("%s %s host %q %v: got %s, want %s", tt.r.Method, tt.r.URL, tt.r.Host, tt.r.Header, got, tt.want)
		}
	}
}

func TestNoRouteAndDotSegments(t *testing.T) {
	tbl, got := compile(t, []config.Route{to("api", config.Match{PathPrefix: "/api/"})}, Options{})
	h := NewHandler("edge", "http", tbl, nil)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/other", 404}, {"/api/../admin", 400}, {"/api/./x", 400}, {"/api/..", 400},
		{"/api/%2e%2e/admin", 400}, {`/api/..\admin`, 400}, {"/api/x", 204}, {"/api/..x", 204},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://h"+tc.path, nil)
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, rec.Code, tc.status)
		}
		if tc.status == 404 && rec.Header().Get("X-Outrigger-Error") != "no_route" {
			t.Errorf("%s: X-Outrigger-Error %q", tc.path, rec.Header().Get("X-Outrigger-Error"))
		}
	}
	if len(*got) != 2 {
		t.Errorf("sent upstream: %v, want 2 requests", *got)
	}
	if n := h.unrouted.Count(404); n != 1 {
		t.Errorf("no_route count %d, want 1", n)
	}
	if n := h.unrouted.Count(400); n != 5 {
		t.Errorf("bad path count %d, want 5", n)
	}
}

// TestSplitIsExactWithInjectedRandomness walks every value the random
// source can give: each target gets exactly its weight's share.
func TestSplitIsExactWithInjectedRandomness(t *testing.T) {
	next := 0
	intn := func(n int) int { v := next % n; next++; return v }
	tbl, got := compile(t, []config.Route{{Match: config.Match{}, Split: []config.SplitTarget{
		{Upstream: "v1", Weight: 90}, {Upstream: "v2", Weight: 9}, {Upstream: "v3", Weight: 1}}}}, Options{Intn: intn})
	h := NewHandler("edge", "http", tbl, nil)
	for range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	count := map[string]int{}
	for _, n := range *got {
		count[n]++
	}
	if count["v1"] != 900 || count["v2"] != 90 || count["v3"] != 10 {
		t.Errorf("split %v, want v1 900, v2 90, v3 10", count)
	}
	v := h.View()
	if v.Routes[0].Requests != 1000 || v.Routes[0].Targets[2].Requests != 10 {
		t.Errorf("view %+v", v.Routes[0])
	}
}

// TestCountsSurviveARecompile: a reload that keeps a route's name keeps
// its counters (Prometheus counters must not fall back).
func TestCountsSurviveARecompile(t *testing.T) {
	routes := func(w1, w2 int) []config.Route {
		return []config.Route{{Name: "web", Split: []config.SplitTarget{{Upstream: "v1", Weight: w1}, {Upstream: "v2", Weight: w2}}}}
	}
	old, _ := compile(t, routes(90, 10), Options{})
	h := NewHandler("edge", "http", old, nil)
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	next, _ := compile(t, routes(50, 50), Options{Prev: old})
	h.Swap(next)
	v := h.View()
	if v.Routes[0].Requests != 10 || v.Routes[0].Targets[0].Weight != 50 {
		t.Errorf("after recompile: %+v", v.Routes[0])
	}
}

func TestStripPrefixVia(t *testing.T) {
	tbl, _ := compile(t, []config.Route{{Match: config.Match{PathPrefix: "/api/"}, Upstream: "a", StripPrefix: true}}, Options{})
	if p := tbl.routes[0].via.StripPrefix; p != "/api/" {
		t.Fatalf("via.StripPrefix %q", p)
	}
}

func TestHeaderRuleJoinsFieldLines(t *testing.T) {
	h := headerRule{name: "X-A", value: "1,2"}
	for _, tc := range []struct {
		vals []string
		want bool
	}{
		{[]string{"1,2"}, true}, {[]string{"1", "2"}, true}, {[]string{"1"}, false}, {[]string{"1", "2", "3"}, false},
		{[]string{"1,", "2"}, false}, {nil, false},
	} {
		if got := h.matches(http.Header{"X-A": tc.vals}); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.vals, got, tc.want)
		}
	}
}

// benchTable has n routes: hosts, prefixes and a header route spread
// over them, and the request matches one near the end.
func benchTable(b testing.TB, n int) *Table {
	routes := make([]config.Route, 0, n)
	for i := range n - 2 {
		m := config.Match{PathPrefix: fmt.Sprintf("/svc%d/", i)}
		switch i % 3 {
		case 0:
			m.Host = fmt.Sprintf("svc%d.example.com", i)
		case 1:
			m.Headers = map[string]string{"x-tenant": fmt.Sprint(i)}
		}
		routes = append(routes, to(fmt.Sprint("up", i), m))
	}
	routes = append(routes, to("canary", config.Match{PathPrefix: "/api/", Headers: map[string]string{"x-canary": "1"}}))
	routes = append(routes, to("api", config.Match{PathPrefix: "/api/"}))
	tbl, _ := compile(b, routes, Options{})
	return tbl
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{3, 300} {
		tbl := benchTable(b, n)
		r := request("GET", "shop.example.com", "/api/users/42", "X-Canary", "1", "Accept", "*/*")
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tbl.Match(r) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	for _, n := range []int{3, 300} {
		tbl := benchTable(t, n)
		r := request("GET", "svc0.example.com:8080", "/api/users/42", "X-Canary", "1")
		if allocs := testing.AllocsPerRun(100, func() { tbl.Match(r) }); allocs != 0 {
			t.Errorf("%d routes: %v allocations per match", n, allocs)
		}
	}
}
