package proxy

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// attempt is one try of a request at one endpoint. Until finish (or
// discard) is called it holds the endpoint lease and the breaker's ticket.
type attempt struct {
	lease      upstream.Lease
	breakDone  func(error)
	resp       *http.Response // nil when the try failed locally
	cancelTry  context.CancelFunc
	failure    retry.Failure // what failed, when failed() (Status: see status)
	status     int           // the upstream status, or the local reply's
	reason     localreply.Reason
	detail     string
	refused    *localreply.Reason // no try was made: circuit_open, no_healthy_upstream
	clientGone bool
	finished   bool
	span       trace.Span // the request's span (a no-op one when tracing is off)
}

var (
	reasonCircuitOpen = localreply.CircuitOpen
	reasonNoUpstream  = localreply.NoHealthyUpstream
)

// failed reports whether the try counts as failed for retry purposes: a
// local failure, or a 5xx answer.
func (a *attempt) failed() bool {
	return a.resp == nil || a.status >= 500
}

// try makes one attempt: breaker admission, pick, round trip. Local
// failures are finished (accounted) here; a response is finished by
// respond or discard once its body is done.
// a is filled in; the caller keeps it on its stack (no allocation).
func (h *Handler) try(a *attempt, ctx context.Context, r *http.Request, body *retry.Body, key string, avoid *balancer.Endpoint) {
	*a = attempt{span: trace.SpanFromContext(ctx)}
	var ok bool
	if a.breakDone, ok = h.up.Breaker().Allow(); !ok {
		a.refused, a.detail = &reasonCircuitOpen, "upstream "+h.up.Name()+" is failing; its circuit breaker is open"
		return
	}
	if a.lease, ok = h.up.Pick(key, avoid); !ok {
		a.breakDone(breaker.Excluded)
		a.refused, a.detail = &reasonNoUpstream, "upstream "+h.up.Name()+" has no endpoint to send to"
		return
	}
	reqBody, _ := body.ForAttempt() // retryable() made sure it can be sent

	tryCtx, timedOut := ctx, (*atomic.Bool)(nil)
	var timer *time.Timer
	if perTry := h.up.RetryPolicy().PerTryTimeout; perTry > 0 {
		// Only this try's wait for a response head is bounded; a response
		// that arrived streams on under the whole timeout.
		var cancel context.CancelFunc
		tryCtx, cancel = context.WithCancel(ctx)
		a.cancelTry = cancel
		timedOut = new(atomic.Bool)
		timer = time.AfterFunc(perTry, func() { timedOut.Store(true); cancel() })
	}
	resp, err := h.transport.RoundTrip(outbound(tryCtx, h.tr, r, a.lease.Endpoint().Address, reqBody))
	if timer != nil {
		timer.Stop()
	}
	if err == nil {
		a.resp, a.status = resp, resp.StatusCode
		if resp.StatusCode >= 500 {
			a.failure = retry.Status
		}
		return
	}

	ae := classify(r.Context(), tryCtx, err)
	if timedOut != nil && timedOut.Load() && r.Context().Err() == nil {
		ae = attemptError{reason: localreply.UpstreamTimeout}
	}
	if ae.clientGone {
		a.clientGone = true
		a.finish(statusClientClosed, outlier.Ignored)
		return
	}
	a.reason, a.status, a.detail = ae.reason, ae.reason.Status(), err.Error()
	switch ae.reason {
	case localreply.ConnectFailure:
		a.failure = retry.ConnectFailure
	case localreply.UpstreamTimeout:
		a.failure = retry.Timeout
	default:
		a.failure = retry.Reset
	}
	a.finish(a.status, outlier.LocalFailure)
}

// finish accounts the attempt exactly once: the endpoint's lease (active
// count, latency, outlier detector) and the breaker.
func (a *attempt) finish(status int, o outlier.Outcome) {
	if a.finished {
		return
	}
	a.finished = true
	if ejected := a.lease.Done(status, o); a.span.IsRecording() {
		noteAttempt(a.span, a.lease.Endpoint(), ejected)
	}
	switch o {
	case outlier.Success:
		a.breakDone(nil)
	case outlier.Ignored:
		a.breakDone(breaker.Excluded)
	default:
		a.breakDone(breaker.Failure)
	}
	if a.cancelTry != nil {
		a.cancelTry()
	}
}

// discardLimit is how much of a response being retried is read so that
// its connection can be reused; past it the connection is dropped.
const discardLimit = 4 << 10

// discard drops a response that is being retried, and finishes the
// attempt as the failure it was.
func (a *attempt) discard() {
	if a.resp != nil {
		io.CopyN(io.Discard, a.resp.Body, discardLimit)
		a.resp.Body.Close()
		a.finish(a.status, outlier.Upstream5xx)
	}
}

// outcomeOf is what a streamed response means once its body is done.
func outcomeOf(status int, readErr, writeErr error, clientGone bool) outlier.Outcome {
	switch {
	case readErr != nil && !clientGone:
		return outlier.LocalFailure
	case writeErr != nil || clientGone:
		return outlier.Ignored
	case status >= 500:
		return outlier.Upstream5xx
	}
	return outlier.Success
}
