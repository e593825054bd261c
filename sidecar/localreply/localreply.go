// Package localreply names the answers the sidecar gives itself instead of
// an upstream (docs/contract.md, "Local replies") and writes them.
package localreply

import (
	"net/http"
	"strconv"
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
	"forbidden",
}

var statuses = [NumReasons]int{503, 503, 503, 503, 502, 502, 504, 400, 502, 404, 403}

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
// plain-text body (the reason and detail). The caller counts it.
func Write(w http.ResponseWriter, r Reason, status int, detail string) {
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
}
