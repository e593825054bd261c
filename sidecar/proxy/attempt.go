package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// attempt runs the request's attempts: each one begun and ended through
// the upstream's seam (upstream.Attempt), each failure put to its retry
// gate. tunnel marks a WebSocket handshake or a CONNECT, relayed once the
// endpoint switches.
func (h *Handler) attempt(ctx context.Context, cs *clientSide, span trace.Span, w http.ResponseWriter, r *http.Request, tunnel bool) {
	policy := h.up.RetryPolicy()
	if h.up.TimesLatency() {
		cs.clock = h.up.Now // before cs.body: the body's reads are timed
	}
	body, err := retry.Prepare(cs.body(r.Body), r.ContentLength, policy.Attempts > 0)
	if err != nil {
		h.clientBodyFailed(ctx, cs, w, err)
		return
	}
	key := clientKey(r)
	idempotent := h1.Idempotent(r.Method)
	var o *outboundReq // the outbound request's storage, for every try
	if _, ok := h.transport.(contextTransport); ok {
		// Back to the pool when the exchange is over: every answer's body
		// is closed by then (respond, discard and relay close theirs).
		o = outboundReqs.Get().(*outboundReq)
		defer outboundReqs.Put(o)
	}
	var avoid *balancer.Endpoint
	// If anything unforeseen panics with an attempt open (a ResponseWriter
	// refusing what it was given, say), the attempt still ends: a lease or
	// a half-open breaker's probe held for good would wedge the upstream.
	// End is idempotent, so on every ordinary path this does nothing.
	var a upstream.Attempt
	defer a.End(upstream.Failed(upstream.ClientGone))
	for n := 0; ; n++ {
		var refused *upstream.Refusal
		a, refused = h.up.Begin(span, key, avoid)
		if refused != nil {
			h.localReply(ctx, cs, w, refused.Reason, refused.Reason.Status(), refused.Detail)
			return
		}
		cs.endpoint, cs.retries = a.Endpoint().Address, n
		waited := cs.bodyWait()
		t := h.try(ctx, &a, o, r, &body, tunnel)
		if t.resp != nil {
			a.HeadArrived(cs.bodyWait() - waited) // the client's upload time is not the endpoint's
		}
		if t.resp != nil && tunnel && switched(r, t.resp) {
			h.relay(ctx, cs, w, &a, t.resp)
			return
		}
		if t.resp != nil && t.resp.StatusCode < 500 {
			h.respond(ctx, cs, w, r, &a, t.resp, false)
			return
		}
		o := t.outcome
		body.Fence() // the last attempt's transport may still hold the body: it reads no more
		replay := upstream.Replay{Written: t.written, Idempotent: idempotent,
			Resendable: body.Replayable() || body.Untouched()}
		if t.resp != nil {
			o = upstream.Answer(t.resp.StatusCode)
		} else {
			a.End(o)
			if o.Kind == upstream.ClientGone {
				h.clientGone(ctx, cs, w, t.err)
				return
			}
		}
		switch a.Retry(ctx, n, o, replay) {
		case upstream.RetryNow:
			if t.resp != nil {
				discard(t.resp)
				a.End(o)
			}
			avoid = a.Endpoint()
			continue
		case upstream.BudgetExhausted:
			if t.resp != nil {
				h.respond(ctx, cs, w, r, &a, t.resp, true)
				return
			}
			h.localReply(ctx, cs, w, localreply.RetryBudgetExhausted, localreply.RetryBudgetExhausted.Status(), t.err.Error())
			return
		}
		if t.resp != nil {
			h.respond(ctx, cs, w, r, &a, t.resp, false)
			return
		}
		reason := o.Kind.Reason()
		h.localReply(ctx, cs, w, reason, reason.Status(), t.err.Error())
		return
	}
}

// try is one attempt's round trip.
type try struct {
	resp    *http.Response   // the endpoint's answer; nil when the try failed
	outcome upstream.Outcome // why it failed, when resp is nil
	err     error            // the failure
	written bool             // some of the request reached the endpoint
}

// try sends the request to a's endpoint. per_try_timeout bounds only the
// wait for the answer's head; an answer that arrived streams on under the
// whole timeout.
func (h *Handler) try(ctx context.Context, a *upstream.Attempt, o *outboundReq, r *http.Request, body *retry.Body, tunnel bool) try {
	reqBody, _ := body.ForAttempt() // the retry gate made sure it can be sent
	tryCtx := ctx
	var pt *perTry
	if d := h.up.RetryPolicy().PerTryTimeout; d > 0 && !tunnel {
		pt, tryCtx = startPerTry(ctx, d)
		defer pt.headArrived(ctx)
	}
	out := outbound(tryCtx, h.tr, o, r, a.Endpoint().Address, reqBody)
	if tunnel && isWebSocket(r) {
		out.Header["Connection"] = []string{"Upgrade"}
		out.Header["Upgrade"] = r.Header["Upgrade"]
	}
	resp, err := roundTrip(h.transport, tryCtx, out)
	if err == nil {
		return try{resp: resp, written: true}
	}
	return try{outcome: classify(r.Context(), err, pt.expired()), err: err, written: h1.Sent(err)}
}

// perTry is per_try_timeout for one try: a timer that cancels the try's
// context, and what it did. Allocated only when the key is set.
type perTry struct {
	timer    *time.Timer
	cancel   context.CancelFunc
	timedOut atomic.Bool
}

func startPerTry(ctx context.Context, d time.Duration) (*perTry, context.Context) {
	pt := &perTry{}
	tryCtx, cancel := context.WithCancel(ctx)
	pt.cancel = cancel
	pt.timer = time.AfterFunc(d, func() { pt.timedOut.Store(true); cancel() })
	return pt, tryCtx
}

// headArrived stops the timer when the try is over. If the head arrived in
// time, the try's context lives on with its body until the request's
// context ends.
func (pt *perTry) headArrived(ctx context.Context) {
	if pt.timer.Stop() {
		context.AfterFunc(ctx, pt.cancel)
	}
}

func (pt *perTry) expired() bool { return pt != nil && pt.timedOut.Load() }

// clientBodyFailed answers a request whose body could not be read before
// any attempt: a malformed or truncated body gets 400 bad_request (the
// client may still read it), a stalled or vanished client nothing.
func (h *Handler) clientBodyFailed(ctx context.Context, cs *clientSide, w http.ResponseWriter, err error) {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isRequestError(err) {
		h.localReply(ctx, cs, w, localreply.BadRequest, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	abort()
}

// clientGone ends a request whose attempt failed on the client's side: the
// client's body broke (malformed: 400; otherwise nothing to say), or it
// went away.
func (h *Handler) clientGone(ctx context.Context, cs *clientSide, w http.ResponseWriter, err error) {
	if re := requestError(err); re != nil && clientBodyError(err) == nil {
		// The transport refused the request itself (431: its headers
		// are larger than the endpoint accepts).
		h.localReply(ctx, cs, w, localreply.BadRequest, re.Status, re.Error())
		return
	}
	if be := clientBodyError(err); be != nil {
		h.clientBodyFailed(ctx, cs, w, be)
		return
	}
	abort()
}

func isRequestError(err error) bool { return requestError(err) != nil }

func requestError(err error) *h1.RequestError {
	var re *h1.RequestError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// discardLimit is how much of an answer being retried is read so that its
// connection can be reused; past it the connection is dropped.
const discardLimit = 4 << 10

// discard drops an answer that is being retried.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, discardLimit)
	resp.Body.Close()
}
