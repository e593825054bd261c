package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
)

// Table is a listener's compiled routes. It is immutable and safe for
// concurrent use; a reload compiles a new one.
//
// The index keeps first-match order while skipping most routes: the
// request's host picks a group (a map of exact hosts, each group holding
// the routes that can match that host, wildcards resolved at compile time;
// one more group for every other host). Within a group, exact paths and
// path prefixes are looked up by map (one lookup per distinct prefix
// length), and only routes with a regex or no path condition are walked.
// The lowest-numbered route among those that match wins.
type Table struct {
	listener string
	routes   []*Route
	byHost   map[string]*group
	anyHost  *group
	intn     func(n int) int // uniform in [0, n): the split's randomness
}

type group struct {
	exact  map[string][]int32 // path → routes, ascending
	prefix map[string][]int32 // path prefix → routes, ascending
	lens   []int              // the distinct prefix lengths, longest first
	rest   []int32            // routes with a regex or no path condition, ascending
}

// Options are Compile's optional parts.
type Options struct {
	// Intn returns a uniform int in [0, n); default math/rand/v2.IntN.
	// Tests inject their own to make splits exact.
	Intn func(n int) int
	// Prev is the table being replaced: routes of the same name keep its
	// counters.
	Prev *Table
	// Tunnels are the listener's tunnels (WebSocket), closed when it drains.
	Tunnels *proxy.Tunnels
}

// Compile builds the table of a valid listener config. seat finds an
// upstream's handler seat by name; it may return nil where the table is
// only described (outrigger validate).
func Compile(l config.Listener, seat func(upstream string) Seat, opts Options) (*Table, error) {
	t := &Table{listener: l.Name, intn: opts.Intn, byHost: map[string]*group{}}
	if t.intn == nil {
		t.intn = rand.IntN
	}
	prev := map[string]*Route{}
	if opts.Prev != nil {
		for _, rt := range opts.Prev.routes {
			prev[rt.cfg.Name] = rt
		}
	}
	for i, rc := range l.Routes {
		if rc.Name == "" {
			rc.Name = config.DefaultRouteName(i)
		}
		rt, err := compileRoute(l.Name, rc, seat, prev[rc.Name], opts.Tunnels)
		if err != nil {
			return nil, fmt.Errorf("listeners %s: routes[%d]: %w", l.Name, i, err)
		}
		t.routes = append(t.routes, rt)
	}
	for _, rt := range t.routes {
		if h := rt.host.exact; h != "" && t.byHost[h] == nil {
			t.byHost[h] = t.group(func(rt *Route) bool { return rt.host.matches(h) })
		}
	}
	t.anyHost = t.group(func(rt *Route) bool { return rt.host.exact == "" })
	return t, nil
}

func compileRoute(listener string, rc config.Route, seat func(string) Seat, prev *Route, tunnels *proxy.Tunnels) (*Route, error) {
	rt := &Route{cfg: rc, counts: &routeCounts{targets: map[string]*atomic.Uint64{}}}
	if prev != nil {
		rt.counts = prev.counts
	}
	m := rc.Match
	if h := strings.ToLower(m.Host); strings.HasPrefix(h, "*.") {
		rt.host.suffix = h[1:]
	} else {
		rt.host.exact = h
	}
	if m.PathRegex != "" {
		// Anchored at both ends; with s, "." matches "\n" too, so an
		// encoded newline (%0A) cannot slip a path past the route.
		re, err := regexp.Compile(`^(?s:` + m.PathRegex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("match.path_regex: %w", err)
		}
		rt.re = re
	}
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rt.headers = append(rt.headers, headerRule{name: textproto.CanonicalMIMEHeaderKey(name), value: m.Headers[name]})
	}
	rt.methods = m.Methods
	split := rc.Split
	if rc.Upstream != "" {
		split = []config.SplitTarget{{Upstream: rc.Upstream, Weight: 1}}
	}
	for _, st := range split {
		rt.total += st.Weight
		n := rt.counts.targets[st.Upstream]
		if n == nil {
			n = new(atomic.Uint64)
			rt.counts.targets[st.Upstream] = n
		}
		rt.targets = append(rt.targets, Target{Upstream: st.Upstream, Weight: st.Weight, seat: seat(st.Upstream), upto: rt.total, requests: n})
	}
	if rt.total <= 0 {
		return nil, fmt.Errorf("no upstream with a weight > 0")
	}
	rt.via = proxy.Via{Listener: listener, Route: rc.Name, Served: &rt.counts.codes, Tunnels: tunnels}
	if rc.StripPrefix {
		rt.via.StripPrefix = m.PathPrefix
	}
	return rt, nil
}

// group indexes the routes for which in holds.
func (t *Table) group(in func(*Route) bool) *group {
	g := &group{exact: map[string][]int32{}, prefix: map[string][]int32{}}
	for i, rt := range t.routes {
		if !in(rt) {
			continue
		}
		m := rt.cfg.Match
		switch {
		case m.Path != "":
			g.exact[m.Path] = append(g.exact[m.Path], int32(i))
		case m.PathPrefix != "":
			if len(g.prefix[m.PathPrefix]) == 0 && !slices.Contains(g.lens, len(m.PathPrefix)) {
				g.lens = append(g.lens, len(m.PathPrefix))
			}
			g.prefix[m.PathPrefix] = append(g.prefix[m.PathPrefix], int32(i))
		default:
			g.rest = append(g.rest, int32(i))
		}
	}
	slices.SortFunc(g.lens, func(a, b int) int { return b - a })
	return g
}

// Match returns the first route that matches r, or nil. It allocates
// nothing unless the request's host has upper-case letters.
func (t *Table) Match(r *http.Request) *Route {
	host := normalHost(r.Host)
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	g := t.byHost[host]
	if g == nil {
		g = t.anyHost
	}
	best := int32(len(t.routes))
	best = t.first(g.exact[path], best, r, host, path)
	for _, n := range g.lens {
		if n <= len(path) {
			best = t.first(g.prefix[path[:n]], best, r, host, path)
		}
	}
	best = t.first(g.rest, best, r, host, path)
	if int(best) == len(t.routes) {
		return nil
	}
	return t.routes[best]
}

// first is the lowest of best and the candidates (ascending) that match.
func (t *Table) first(candidates []int32, best int32, r *http.Request, host, path string) int32 {
	for _, i := range candidates {
		if i >= best {
			break
		}
		if t.routes[i].matches(r, host, path) {
			return i
		}
	}
	return best
}

// normalHost is the request's host as routes compare it: without its port
// or a trailing dot, in lower case.
func normalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && i > strings.LastIndexByte(h, ']') {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// Routes are the table's routes, in order.
func (t *Table) Routes() []*Route { return t.routes }
