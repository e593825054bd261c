// Package localreply names the answers the sidecar gives itself instead of
// an upstream (docs/contract.md, "Local replies") and writes them.
package localreply

import (
	"net/http"
	"strconv"
	"time"
)

// Header carries the reason on every local reply.
const Header = "X-Outrigger-Error"

// Reason is one local-reply code. Its small integer value indexes per-reason
// counters, so counting a reply takes no map lookup.
type Reason uint8

// The local-reply codes of docs/contract.md, in its order.
const (
	NoHealthyUpstream Reason = iota
	CircuitOpen
	Overflow
	RetryBudgetExhausted
	ConnectFailure
	UpstreamReset
	UpstreamTimeout
	BadRequest
	UpstreamProtocolError
	NoRoute
	RateLimited
	Forbidden
	NumReasons int = iota
)

var names = [NumReasons]string{
	"no_healthy_upstream",
	"circuit_open",
	"overflow",
	"retry_budget_exhausted",
	"connect_failure",
	"upstream_reset",
	"upstream_timeout",
	"bad_request",
	"upstream_protocol_error",
	"no_route",
	"rate_limited",
	"forbidden",
}

var statuses = [NumReasons]int{503, 503, 503, 503, 502, 502, 504, 400, 502, 404, 429, 403}

// String is the code as it appears in the header and in metrics.
func (r Reason) String() string {
	if int(r) < NumReasons {
		return names[r]
	}
	return "unknown_" + strconv.Itoa(int(r))
}

// Status is the HTTP status the reply carries by default.
func (r Reason) Status() int {
	if int(r) < NumReasons {
		return statuses[r]
	}
	return http.StatusInternalServerError
}

// Write sends the local reply: status, the reason header, and a short
// plain-text body (the reason and detail). The caller counts it. It
// returns the body's length (the access log's bytes_out).
func Write(w http.ResponseWriter, r Reason, status int, detail string) int64 {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(Header, r.String())
	body := r.String()
	if detail != "" {
		body += ": " + detail
	}
	body += "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return int64(len(body))
}

// RetryAfterHeader tells a client refused with rate_limited when to come
// back (RFC 9110, section 10.2.3).
const RetryAfterHeader = "Retry-After"

// retryAfterValues are the header's values for 1..60 seconds, formatted
// once: a refusal is what an overloaded client hits most, and formatting
// the common waits again for each would allocate.
var retryAfterValues = func() (v [61][]string) {
	for n := 1; n < len(v); n++ {
		v[n] = []string{strconv.Itoa(n)}
	}
	return v
}()

// SetRetryAfter sets Retry-After on h to d in whole seconds, rounded up and
// at least 1 (a client told 0 would come straight back). Call it before
// Write. The shared value slices are never written to: net/http and h1
// only read a header, and Set or Add on it replace or grow a copy.
func SetRetryAfter(h http.Header, d time.Duration) {
	n := int64((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	if n < int64(len(retryAfterValues)) {
		h[RetryAfterHeader] = retryAfterValues[n]
		return
	}
	h[RetryAfterHeader] = []string{strconv.FormatInt(n, 10)}
}
