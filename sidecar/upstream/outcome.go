package upstream

import (
	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
)

// Kind is what one attempt came to. It is the one vocabulary every front
// end (HTTP, WebSocket, TCP) reports in; what it means for the endpoint's
// counters, the outlier detector, the breaker, retries and the local reply
// is decided here and nowhere else.
type Kind uint8

const (
	// Answered: the endpoint gave a complete answer below 500 (a TCP pair
	// ended normally, a WebSocket was relayed to its end).
	Answered Kind = iota
	// Answered5xx: the endpoint answered, and the answer says it is unwell
	// (a 5xx, or a gRPC status such as UNAVAILABLE under HTTP 200).
	Answered5xx
	// ConnectFailed: no connection could be made; nothing was sent.
	ConnectFailed
	// Reset: the connection broke before a complete answer.
	Reset
	// TimedOut: the endpoint did not answer (or stalled mid-answer) within
	// timeout, per_try_timeout or limits.stream_idle_timeout.
	TimedOut
	// ProtocolError: the answer broke HTTP framing or a limit (bytes beyond
	// Content-Length, an oversized head, ...); its connection is closed.
	ProtocolError
	// ClientGone: the client's doing — it went away, stalled past a timeout,
	// or sent a malformed body — or the sidecar cut the attempt short while
	// shutting down. Recorded as 499 and never held against the endpoint.
	ClientGone
	// NotReady: the sidecar itself could not make the attempt (no mesh
	// identity from Consul yet, or an expired one): 503
	// no_healthy_upstream, never held against the endpoint, not retried.
	NotReady
)

// StatusClientClosed is the status an attempt the client abandoned is
// recorded with (nginx's 499): neither a success nor the endpoint's failure.
const StatusClientClosed = 499

// Outcome is one finished attempt: its kind and the status it is recorded
// with (the endpoint's status when it answered).
type Outcome struct {
	Kind   Kind
	status int
}

// Answer is the outcome of an endpoint's answer with HTTP status code
// status: Answered, or Answered5xx for a 5xx.
func Answer(status int) Outcome {
	if status >= 500 {
		return Outcome{Kind: Answered5xx, status: status}
	}
	return Outcome{Kind: Answered, status: status}
}

// Unwell is an answer whose status is fine but whose content says the
// endpoint is not (gRPC's UNAVAILABLE under HTTP 200): counted like a 5xx,
// recorded with its real status.
func Unwell(status int) Outcome { return Outcome{Kind: Answered5xx, status: status} }

// Failed is the outcome of an attempt that got no usable answer.
func Failed(k Kind) Outcome { return Outcome{Kind: k, status: k.status()} }

// Status is what the attempt is recorded with in the endpoint's per-code
// counters: the endpoint's status, or the local reply's for a failure, or
// 499 when the client went away.
func (o Outcome) Status() int {
	if o.status != 0 {
		return o.status
	}
	return o.Kind.status()
}

func (k Kind) status() int {
	switch k {
	case ClientGone:
		return StatusClientClosed
	case Answered, Answered5xx:
		return 0
	}
	return k.Reason().Status()
}

// Reason is the local reply for a failed attempt: connect_failure,
// upstream_reset, upstream_timeout or upstream_protocol_error. Only
// meaningful for those four kinds.
func (k Kind) Reason() localreply.Reason {
	switch k {
	case ConnectFailed:
		return localreply.ConnectFailure
	case TimedOut:
		return localreply.UpstreamTimeout
	case ProtocolError:
		return localreply.UpstreamProtocolError
	case NotReady:
		return localreply.NoHealthyUpstream
	}
	return localreply.UpstreamReset
}

// Failed reports whether the attempt failed from the request's point of
// view: no usable answer, or a 5xx. (A client that went away did not
// fail the endpoint, but there is nothing to answer it with either.)
func (o Outcome) Failed() bool { return o.Kind != Answered }

// forDetector is the outcome as the outlier detector counts it.
func (o Outcome) forDetector() outlier.Outcome {
	switch o.Kind {
	case Answered:
		return outlier.Success
	case Answered5xx:
		return outlier.Upstream5xx
	case ClientGone, NotReady:
		return outlier.Ignored
	}
	return outlier.LocalFailure
}

// forBreaker is the outcome as the breaker counts it.
func (o Outcome) forBreaker() error {
	switch o.Kind {
	case Answered:
		return nil
	case ClientGone, NotReady:
		return breaker.ErrExcluded
	}
	return breaker.ErrFailure
}

// forRetry is the outcome in `retries.on`'s terms. A protocol error is a
// broken answer, like a reset.
func (o Outcome) forRetry() (retry.Failure, int) {
	switch o.Kind {
	case ConnectFailed:
		return retry.ConnectFailure, 0
	case Reset, ProtocolError:
		return retry.Reset, 0
	case TimedOut:
		return retry.Timeout, 0
	}
	return retry.Status, o.Status()
}

// String names the kind for logs and span events.
func (k Kind) String() string {
	switch k {
	case Answered:
		return "answered"
	case Answered5xx:
		return "answered_5xx"
	case ClientGone:
		return "client_gone"
	case NotReady:
		return "not_ready"
	}
	return k.Reason().String()
}
