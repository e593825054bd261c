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
	// Tunnels are the listener's: a WebSocket it relays is closed when
	// the listener drains, as on an upstream's own listener. May be nil.
	Tunnels *Tunnels
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
// inbound request is never modified); otherwise r itself. ok is false
// when stripping would change what the path means — a dot segment or a
// leading "//" appears ("/api../x" with prefix "/api") — or the escaped
// form cannot be cut where the decoded one is: such a request is refused.
func (v *Via) rewrite(r *http.Request) (_ *http.Request, ok bool) {
	if v.StripPrefix == "" || !strings.HasPrefix(r.URL.Path, v.StripPrefix) {
		return r, true
	}
	u := new(url.URL)
	*u = *r.URL
	u.Path = stripPrefix(u.Path, v.StripPrefix)
	if HasDotSegment(u.Path) || strings.HasPrefix(u.Path, "//") {
		return r, false
	}
	if u.RawPath != "" {
		// The escaped form is cut after as many decoded bytes as the
		// prefix has, so that an escape after it ("%2F") stays one.
		rest, cut := cutDecoded(u.RawPath, len(v.StripPrefix))
		if !cut {
			return r, false
		}
		u.RawPath = rooted(rest)
	}
	out := new(http.Request)
	*out = *r
	out.URL = u
	out.RequestURI = ""
	return out, true
}

// cutDecoded returns what follows the first n decoded bytes of the
// escaped path raw; cut is false if raw is shorter.
func cutDecoded(raw string, n int) (rest string, cut bool) {
	i := 0
	for d := 0; d < n; d++ {
		switch {
		case i >= len(raw):
			return "", false
		case raw[i] == '%' && i+2 < len(raw):
			i += 3
		default:
			i++
		}
	}
	return raw[i:], true
}

// stripPrefix removes prefix from p; the result always starts with "/".
func stripPrefix(p, prefix string) string { return rooted(p[len(prefix):]) }

// rooted is p with a leading "/" if it has none.
func rooted(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// HasDotSegment reports whether the (decoded) path has a "." or ".."
// segment. A backslash counts as a separator and a segment's ";params"
// are ignored, as some servers take them: "/a/..;/b" is "/b" to Tomcat.
func HasDotSegment(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' && p[i] != '\\' {
			continue
		}
		seg := p[start:i]
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." {
			return true
		}
		start = i + 1
	}
	return false
}
