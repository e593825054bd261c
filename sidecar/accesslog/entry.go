// Package accesslog writes the access log of docs/access-log.md: one line
// per HTTP request (per connection for protocol tcp), in JSON or text,
// off the request path.
//
// The request path fills an Entry on its own stack and hands it to
// Logger.Enqueue, which copies it into a bounded queue without blocking
// or allocating: when the queue is full (a slow or full disk), the entry
// is dropped and counted. One goroutine per Logger formats and writes.
// No header value is ever part of an Entry, so Authorization, cookies and
// tokens cannot reach the log.
package accesslog

import (
	"net/http"
	"strings"
	"time"
)

// Entry is one access-log line, in the order the fields are written. Its
// strings are ones the request path already holds (the request's method
// and target, the endpoint's address, a local-reply code): making an
// Entry allocates nothing.
type Entry struct {
	Time     time.Time     // when the request (connection) started
	Listener string        // the routing listener's name, "inbound" for the inbound listener
	Upstream string        // the upstream that served it; "" when a listener answered itself
	Route    string        // the routing listener's route, "" otherwise
	Method   string        // "" for tcp
	Path     string        // the request target as received, without scheme and authority; "" for tcp
	Status   int           // what the client got; 499 when it got nothing; 0 for tcp
	Duration time.Duration // until the response (connection) ended
	BytesIn  int64         // request body bytes read from the client (tcp: client to endpoint)
	BytesOut int64         // response body bytes written to the client (tcp: endpoint to client)
	Endpoint string        // host:port of the last attempt, "" when none was made
	Retries  int
	Error    string   // the X-Outrigger-Error code of a local reply, "" for an upstream's own answer
	TraceID  [16]byte // all zero: none
	Client   string   // the client's IP:port
}

// StatusClientGone is the status of a request whose client got no answer
// (it left, or its exchange was broken off first), as the routing
// listeners' counts have it.
const StatusClientGone = 499

// Target is the request target of r as the log shows it: the path and
// query as received (escaped form). An absolute-form target
// ("http://user@host/p?q") loses its scheme and authority, so neither a
// host nor userinfo is logged; a CONNECT's authority-form target is "".
// It allocates nothing: the result points into r (see Detach).
func Target(r *http.Request) string {
	t := r.RequestURI
	switch {
	case t == "":
		// A request built in code (tests) or by a server that does not
		// keep the target: its URL's path is the best there is.
		if r.URL == nil || r.Method == http.MethodConnect {
			return ""
		}
		if r.URL.RawQuery == "" && r.URL.RawPath == "" {
			return r.URL.Path
		}
		return r.URL.RequestURI()
	case t[0] == '/' || t == "*":
		return t
	case r.Method == http.MethodConnect:
		return ""
	}
	// Absolute form: drop "scheme://authority".
	if i := strings.Index(t, "://"); i >= 0 {
		rest := t[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			return rest[j:]
		}
		return "/"
	}
	return ""
}

// TraceParent is the trace id of a W3C traceparent header value
// ("00-<32 hex>-<16 hex>-<2 hex>"), all zero when it is not one. It is
// for requests whose trace context was not extracted (tracing off, or a
// routing listener's own answer); parsing it allocates nothing.
func TraceParent(h http.Header) (id [16]byte) {
	v := h["Traceparent"]
	if len(v) != 1 || len(v[0]) < 55 || v[0][2] != '-' || v[0][35] != '-' {
		return id
	}
	s := v[0][3:35]
	for i := range id {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return [16]byte{}
		}
		id[i] = hi<<4 | lo
	}
	return id
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// MaxPath is the longest path (and method) a line shows; a longer one is
// cut there. A request target may take up most of a 64 KiB head.
const MaxPath = 4096

// Detach copies s, cut at MaxPath, out of whatever it points into. The
// request's strings are slices of its whole head (up to 64 KiB): an entry
// that kept them would keep the head alive while it waits for the writer,
// and 4,096 queued entries could then hold 256 MiB. With Detach an entry
// holds only its own bytes, and the queue stays within a few MiB.
func Detach(s string) string {
	if len(s) > MaxPath {
		s = s[:MaxPath]
	}
	return strings.Clone(s)
}

// Method is r's method detached from its head: the registered methods are
// returned as constants (no copy), any other is Detached.
func Method(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodHead:
		return http.MethodHead
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return Detach(m)
}
