package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
)

// Via is the route of a routing listener that sent a request to a
// handler (docs/routing.md). The router builds one per route when it
// compiles its table; the request path only reads it.
type Via struct {
	Listener string // the listener's name (the span's outrigger.listener)
	Route    string // the route's name (outrigger.route)
	// StripPrefix is removed from the path before forwarding; "" keeps it.
	StripPrefix string
	// Served counts each request by the status its client was sent; 499
	// when it got none (it left, or its exchange was broken off first).
	Served *statuscount.Codes
}

// statusClientGone is what a request that got no status is counted as,
// as in the upstream's own counts.
const statusClientGone = 499

func (v *Via) served(cs *clientSide) {
	if v.Served == nil {
		return
	}
	if cs.status == 0 {
		v.Served.Inc(statusClientGone)
		return
	}
	v.Served.Inc(cs.status)
}

// rewrite is the request as the upstream's request path sees it: with
// the route's prefix stripped, a shallow copy with its own URL (the
// inbound request is never modified); otherwise r itself.
func (v *Via) rewrite(r *http.Request) *http.Request {
	if v.StripPrefix == "" || !strings.HasPrefix(r.URL.Path, v.StripPrefix) {
		return r
	}
	u := new(url.URL)
	*u = *r.URL
	u.Path = stripPrefix(u.Path, v.StripPrefix)
	if u.RawPath != "" {
		if strings.HasPrefix(u.RawPath, v.StripPrefix) {
			u.RawPath = stripPrefix(u.RawPath, v.StripPrefix)
		} else {
			u.RawPath = "" // the prefix was escaped: the path is sent re-escaped
		}
	}
	out := new(http.Request)
	*out = *r
	out.URL = u
	out.RequestURI = ""
	return out
}

// stripPrefix removes prefix from p; the result always starts with "/".
func stripPrefix(p, prefix string) string {
	rest := p[len(prefix):]
	if !strings.HasPrefix(rest, "/") {
		return "/" + rest
	}
	return rest
}
