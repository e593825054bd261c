package upstream

import (
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// Attempt is one try of a request (or of a TCP connection) at one
// endpoint, from Begin to End. It is the seam every front end uses — HTTP,
// WebSocket and TCP alike — so the protocol "breaker allow → pick → send →
// finish → retry?" is written once (grpc-go's PickResult.Done and go-kit's
// sd/lb retry in one object).
//
// While it runs, the attempt holds the endpoint (its active count, which
// least_conn reads) and the breaker's ticket. End finishes all of it
// exactly once: the endpoint's counters and latency, the outlier detector,
// the breaker and the span. An Attempt is a value kept on the caller's
// stack; it is used by one goroutine.
type Attempt struct {
	up          *Upstream
	ep          *balancer.Endpoint
	start       time.Time
	breakerDone func(error)
	span        trace.Span // the request's span; nil or not recording: no notes
	ended       bool
	retry       *retryNote // decided before End, noted by End
	// The latency rule's measure, when the front end reported the answer's
	// head (HeadArrived, detector_latency.go).
	headLatency time.Duration
	headed      bool
}

// Refusal is why Begin made no attempt: the local reply to give.
type Refusal struct {
	Reason localreply.Reason
	Detail string
}

// Begin starts an attempt: the breaker's admission, then a pick from the
// current snapshot. key is the client for ip_hash; avoid, when not nil,
// is the endpoint a retry should not go back to (another is taken whenever
// there is another). span is the request's span (nil for none). On
// refusal — circuit_open or no_healthy_upstream — nothing is held and End
// must not be called. Begin never blocks and allocates nothing.
func (u *Upstream) Begin(span trace.Span, key string, avoid *balancer.Endpoint) (Attempt, *Refusal) {
	done, ok := u.breaker.Allow()
	if !ok {
		return Attempt{}, &u.refusals.circuitOpen
	}
	ep, ok := u.pick(key, avoid)
	if !ok {
		done(Failed(ClientGone).forBreaker()) // counts for nothing
		return Attempt{}, &u.refusals.noEndpoint
	}
	ep.Begin()
	return Attempt{up: u, ep: ep, start: u.now(), breakerDone: done, span: span}, nil
}

// refusals are the two Refusals Begin hands out, built once per upstream so
// a refused request allocates nothing.
type refusals struct {
	circuitOpen, noEndpoint Refusal
}

func newRefusals(name string) refusals {
	return refusals{
		circuitOpen: Refusal{localreply.CircuitOpen, "upstream " + name + " is failing; its circuit breaker is open"},
		noEndpoint:  Refusal{localreply.NoHealthyUpstream, "upstream " + name + " has no endpoint to send to"},
	}
}

// Endpoint is the endpoint the attempt went to.
func (a *Attempt) Endpoint() *balancer.Endpoint { return a.ep }

// End finishes the attempt with its outcome: the endpoint's active count,
// per-code counters and latency; the outlier detector (when that ejects the
// endpoint, the snapshot is rebuilt without it before End returns, and the
// span gets an ejection event); the breaker. A second End does nothing.
func (a *Attempt) End(o Outcome) {
	if a.ended || a.up == nil {
		return
	}
	a.ended = true
	u, ep := a.up, a.ep
	now := u.now()
	d := o.forDetector()
	ep.Finish(o.Status(), o.Kind != Answered && o.Kind != ClientGone && o.Kind != NotReady, int64(now.Sub(a.start)), now.UnixNano())
	ejected := false
	if u.detector.Record(&ep.Outlier, d, a.detectorLatency(now)) {
		u.republish()
		ejected = ep.Outlier.Ejected()
	}
	if a.breakerDone != nil {
		a.breakerDone(o.forBreaker())
		a.breakerDone = nil
	}
	if a.span != nil && a.span.IsRecording() {
		noteAttempt(a.span, ep, ejected)
		if a.retry != nil {
			a.noteRetry()
		}
	}
}

// Settle tells the breaker now that the endpoint accepted — a WebSocket's
// 101, a CONNECT's 2xx, a TCP connect — for a connection that then lives
// on: the breaker's ticket is not held for the connection's life (a
// half-open breaker would have its probes stuck behind long-lived
// connections), while the endpoint's lease, its active count for
// least_conn, is held until End.
func (a *Attempt) Settle() {
	if a.breakerDone != nil {
		a.breakerDone(nil)
		a.breakerDone = nil
	}
}

// noteAttempt records which endpoint an attempt went to (the last one wins)
// and, when its outcome ejected the endpoint, the ejection.
func noteAttempt(span trace.Span, ep *balancer.Endpoint, ejected bool) {
	host, port, _ := net.SplitHostPort(ep.Address)
	p, _ := strconv.Atoi(port)
	span.SetAttributes(tracing.AttrServerAddr.String(host), tracing.AttrServerPort.Int(p))
	if ejected {
		span.AddEvent(tracing.EventEjection, trace.WithAttributes(
			tracing.AttrEndpoint.String(ep.Address),
			tracing.AttrReason.String(ep.Outlier.Reason().String())))
	}
}

// Admit admits one client request (or TCP connection) to the upstream:
// the concurrency cap (circuit_breaker.max_requests) and the retry
// budget's request count. When it returns false the answer is overflow.
// Every admitted request must be Released.
func (u *Upstream) Admit() bool {
	if !u.stats.TryBeginRequest(u.maxRequests) {
		return false
	}
	u.budget.Request()
	return true
}

// Release ends a request admitted by Admit that started at start, and
// records how long it took (all attempts).
func (u *Upstream) Release(start time.Time) { u.stats.EndRequest(u.now().Sub(start)) }

// Now is the upstream's clock (injected in tests).
func (u *Upstream) Now() time.Time { return u.now() }
