package config

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxWeight bounds a split's weights, so that their sum cannot overflow;
// a million gives shares finer than anyone can measure.
const maxWeight = 1_000_000

// checkListeners validates the routing listeners and, with them, which
// upstreams need a listen address of their own: one that no route names.
func (c *Config) checkListeners(k *checker) {
	ups := make(map[string]*Upstream, len(c.Upstreams))
	for i := range c.Upstreams {
		ups[c.Upstreams[i].Name] = &c.Upstreams[i]
	}
	routed := map[string]bool{}
	names := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		path := index("listeners", i)
		if k.required(path+".name", l.Name) {
			k.uniqueName(path+".name", l.Name, "listeners", i, names)
		}
		if k.required(path+".listen", l.Listen) {
			k.checkListen(path+".listen", l.Listen)
		}
		k.oneOf(path+".protocol", l.Protocol, ProtocolHTTP, ProtocolHTTP2)
		if len(l.Routes) == 0 {
			k.add(path+".routes", "must list at least one route (with none, every request gets 404 no_route)")
		}
		routeNames := map[string]int{}
		for j := range l.Routes {
			r := &l.Routes[j]
			rp := index(path+".routes", j)
			if r.Name != "" {
				k.uniqueName(rp+".name", r.Name, "routes", j, routeNames)
			}
			r.check(k, rp, ups)
			if r.Upstream != "" {
				routed[r.Upstream] = true
			}
			for _, t := range r.Split {
				routed[t.Upstream] = true
			}
		}
	}
	for i, u := range c.Upstreams {
		if u.Listen == "" && u.Name != "" && !routed[u.Name] {
			k.add(index("upstreams", i)+".listen", "required (no listener route names this upstream)")
		}
	}
}

// uniqueName checks the name of item i of list: a metric label, not
// given to an earlier item (seen maps names to the items that have them).
func (k *checker) uniqueName(path, name, list string, i int, seen map[string]int) {
	if !validName(name) {
		k.add(path, "must match [A-Za-z0-9_.-]+ (it labels metrics), got "+quote(name))
	} else if first, dup := seen[name]; dup {
		k.add(path, quote(name)+" is already the name of "+list+"["+strconv.Itoa(first)+"]")
	} else {
		seen[name] = i
	}
}

// check validates one route; path is "listeners[i].routes[j]".
func (r *Route) check(k *checker, path string, ups map[string]*Upstream) {
	r.Match.check(k, path+".match")
	switch {
	case r.Upstream == "" && len(r.Split) == 0:
		k.add(path, "needs exactly one of upstream and split, got neither")
	case r.Upstream != "" && len(r.Split) > 0:
		k.add(path, "needs exactly one of upstream and split, got both")
	case r.Upstream != "":
		checkTarget(k, path+".upstream", r.Upstream, ups)
	default:
		seen := map[string]int{}
		for i, t := range r.Split {
			tp := index(path+".split", i)
			if k.required(tp+".upstream", t.Upstream) {
				if first, dup := seen[t.Upstream]; dup {
					k.add(tp+".upstream", quote(t.Upstream)+" is already split["+strconv.Itoa(first)+"]; give it one weight")
				} else {
					seen[t.Upstream] = i
					checkTarget(k, tp+".upstream", t.Upstream, ups)
				}
			}
			if t.Weight <= 0 || t.Weight > maxWeight {
				k.addf(tp+".weight", "must be an integer in 1..%d, got %d", maxWeight, t.Weight)
			}
		}
	}
	if r.StripPrefix && r.Match.PathPrefix == "" {
		k.add(path+".strip_prefix", "needs match.path_prefix (the prefix to strip)")
	}
}

func checkTarget(k *checker, path, name string, ups map[string]*Upstream) {
	u, ok := ups[name]
	switch {
	case !ok:
		k.add(path, "no upstream named "+quote(name))
	case u.Protocol == ProtocolTCP:
		k.add(path, "upstream "+quote(name)+" is protocol tcp; a route needs an http or http2 upstream")
	}
}

// check validates a route's match; path is "listeners[i].routes[j].match".
func (m *Match) check(k *checker, path string) {
	if m.Host != "" {
		if msg := hostPatternProblem(m.Host); msg != "" {
			k.add(path+".host", msg)
		}
	}
	var set []string
	for _, p := range []struct{ key, v string }{{"path_prefix", m.PathPrefix}, {"path", m.Path}, {"path_regex", m.PathRegex}} {
		if p.v != "" {
			set = append(set, p.key)
		}
	}
	if len(set) > 1 {
		k.add(path, "at most one of path_prefix, path and path_regex, got "+strings.Join(set, " and "))
	}
	if m.PathPrefix != "" && m.PathPrefix[0] != '/' {
		k.add(path+".path_prefix", "must start with /, got "+quote(m.PathPrefix))
	}
	if m.Path != "" && m.Path[0] != '/' {
		k.add(path+".path", "must start with /, got "+quote(m.Path))
	}
	if m.PathRegex != "" {
		if _, err := regexp.Compile(m.PathRegex); err != nil {
			k.add(path+".path_regex", "not an RE2 expression: "+err.Error())
		}
	}
	hdrs := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		hdrs = append(hdrs, name)
	}
	slices.Sort(hdrs)
	seen := map[string]string{}
	for _, name := range hdrs {
		hp := child(path+".headers", name)
		lower := strings.ToLower(name)
		first, dup := seen[lower]
		seen[lower] = name
		switch {
		case dup:
			k.add(hp, "the same header as "+quote(first)+" (header names ignore case)")
		case !isToken(name):
			k.add(hp, "not a header name")
		case strings.EqualFold(name, "host"):
			k.add(hp, "match the host with match.host (port and case are ignored there)")
		case m.Headers[name] == "":
			k.add(hp, "must not be empty (the header must carry exactly this value)")
		}
	}
	for i, meth := range m.Methods {
		if !isToken(meth) {
			k.add(index(path+".methods", i), "not an HTTP method, got "+quote(meth))
		}
	}
}

// hostPatternProblem checks match.host: a host name, or "*." and a suffix.
func hostPatternProblem(h string) string {
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return `the only wildcard is a leading "*." (as in "*.example.com"), got ` + quote(h)
	}
	if strings.Contains(name, ":") {
		return "must be a host without a port (the request's port is ignored), got " + quote(h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || !hostLabel(label) {
			return "must be a host name such as api.example.com or *.example.com, got " + quote(h)
		}
	}
	return ""
}

func hostLabel(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a method or field name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// CatchAll reports whether the route takes every request: no host, header
// or method condition, and no path condition beyond path_prefix "/".
func (m *Match) CatchAll() bool {
	return m.Host == "" && len(m.Headers) == 0 && len(m.Methods) == 0 &&
		m.Path == "" && m.PathRegex == "" && (m.PathPrefix == "" || m.PathPrefix == "/")
}

// listenerWarnings flags routes that can never match: after a catch-all,
// or after a route that takes every request for the same host.
func (l *Listener) warnings(path string) []string {
	var out []string
	for j := range l.Routes {
		for i := range j {
			if shadows(&l.Routes[i].Match, &l.Routes[j].Match) {
				out = append(out, index(path+".routes", j)+": never matches: routes["+strconv.Itoa(i)+"] before it takes every request it would")
				break
			}
		}
	}
	return out
}

// shadows reports whether a, tried first, takes every request b matches
// (in the cases that can be told without enumerating requests).
func shadows(a, b *Match) bool {
	hostOnly := *a
	hostOnly.Host = ""
	if !hostOnly.CatchAll() {
		return false
	}
	return a.Host == "" || strings.EqualFold(a.Host, b.Host)
}
