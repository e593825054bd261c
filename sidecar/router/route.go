package router

import (
	"net/http"
	"regexp"
	"sync/atomic"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
)

// Seat is where a route sends a request: an upstream's handler seat
// (*proxy.Slot), whose handler a reload of that upstream may swap.
// ServeVia is called concurrently, once per request.
type Seat interface {
	ServeVia(w http.ResponseWriter, r *http.Request, via *proxy.Via)
}

// Route is one compiled route: its conditions, and the upstreams it sends
// to. Immutable once compiled, except for its counters, which it carries
// over from the route of the same name in the table it replaces.
type Route struct {
	cfg     config.Route
	host    hostRule
	re      *regexp.Regexp // path_regex, anchored; nil: none
	headers []headerRule
	methods []string
	targets []Target
	total   int // sum of the weights
	via     proxy.Via
	counts  *routeCounts
}

// Target is one upstream of a route, with its weight (1 for a route's
// only upstream).
type Target struct {
	Upstream string
	Weight   int
	seat     Seat
	upto     int // the weights of this target and those before it
	requests *atomic.Uint64
}

// routeCounts outlive a table: a reload that keeps a route's name keeps
// its counts, as Prometheus counters should.
type routeCounts struct {
	codes   statuscount.Codes
	targets map[string]*atomic.Uint64 // by upstream name; written only when compiling
}

// Name is the route's name (the `route` label).
func (rt *Route) Name() string { return rt.cfg.Name }

// pick chooses the target of one request: by weight, n being uniform in
// [0, total).
func (rt *Route) pick(n int) *Target {
	for i := range rt.targets {
		if n < rt.targets[i].upto {
			return &rt.targets[i]
		}
	}
	return &rt.targets[len(rt.targets)-1]
}

// matches checks what the table's index did not: the host (the index may
// have taken a wildcard or any-host route), the regex, the headers and the
// method. host is normalised (lower case, no port).
func (rt *Route) matches(r *http.Request, host, path string) bool {
	if !rt.host.matches(host) {
		return false
	}
	if rt.re != nil && !rt.re.MatchString(path) {
		return false
	}
	for i := range rt.headers {
		if !rt.headers[i].matches(r.Header) {
			return false
		}
	}
	if len(rt.methods) > 0 {
		ok := false
		for _, m := range rt.methods {
			if m == r.Method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// headerRule: the header's field lines, joined with ",", equal value.
type headerRule struct {
	name  string // canonical form, as servers key http.Header
	value string
}

func (h *headerRule) matches(hdr http.Header) bool {
	vv := hdr[h.name]
	switch len(vv) {
	case 0:
		return false
	case 1:
		return vv[0] == h.value
	}
	// Several field lines are one value joined by commas (RFC 9110
	// 5.3); compared piece by piece, so nothing is allocated.
	rest := h.value
	for i, v := range vv {
		if i > 0 {
			if len(rest) == 0 || rest[0] != ',' {
				return false
			}
			rest = rest[1:]
		}
		if len(rest) < len(v) || rest[:len(v)] != v {
			return false
		}
		rest = rest[len(v):]
	}
	return rest == ""
}

// hostRule is match.host: any host, one host, or a wildcard's suffix.
type hostRule struct {
	exact  string // lower case; "" with suffix "" = any host
	suffix string // ".example.com" for "*.example.com"
}

func (h hostRule) matches(host string) bool {
	switch {
	case h.exact != "":
		return host == h.exact
	case h.suffix != "":
		return len(host) > len(h.suffix) && host[len(host)-len(h.suffix):] == h.suffix
	}
	return true
}
