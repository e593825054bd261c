// Package proxy is the request path of an HTTP upstream listener: admit
// the request (concurrency cap), and for each attempt ask the breaker, pick
// an endpoint, forward through a Transport; retry what qualifies within the
// budget; stream the chosen response back and finish the accounting once
// the body is done. Local replies (SPEC.md) are written here too.
package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// Handler serves the requests of one upstream listener. It is an
// http.Handler: ServeHTTP runs concurrently, one call per request.
type Handler struct {
	up          *upstream.Upstream
	transport   Transport
	log         *slog.Logger
	tr          *tracing.Tracing // nil: tracing off
	spanKind    trace.SpanKind
	now         func() time.Time
	timeout     time.Duration
	maxRequests int64
	upgraded    upgradedConns
}

// Options are a Handler's optional parts.
type Options struct {
	Logger  *slog.Logger
	Tracing *tracing.Tracing
	// Inbound marks the handler of the inbound listener (a SERVER span)
	// rather than of an upstream listener (a CLIENT span).
	Inbound bool
}

// NewHandler returns the handler for up, forwarding through t.
func NewHandler(up *upstream.Upstream, t Transport, opts Options) *Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kind := trace.SpanKindClient
	if opts.Inbound {
		kind = trace.SpanKindServer
	}
	cfg := up.Config()
	return &Handler{up: up, transport: t, log: log, tr: opts.Tracing, spanKind: kind, now: time.Now,
		timeout: cfg.Timeout, maxRequests: int64(cfg.CircuitBreaker.MaxRequests)}
}

// statusClientClosed records an attempt the client abandoned (nginx's 499):
// neither a success nor the endpoint's failure.
const statusClientClosed = 499

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.tr != nil {
		// The span ends when ServeHTTP returns: after the response body.
		var span trace.Span
		ctx, span = h.tr.Start(ctx, r.Header, h.spanKind, r.Method+" "+h.up.Name(),
			tracing.AttrUpstream.String(h.up.Name()), tracing.AttrMethod.String(r.Method))
		defer span.End()
	}
	stats := h.up.Stats()
	if !stats.TryBeginRequest(h.maxRequests) {
		h.localReply(ctx, w, localreply.Overflow, localreply.Overflow.Status(), "max_requests concurrent requests already in flight")
		return
	}
	start := h.now()
	defer func() { stats.EndRequest(h.now().Sub(start)) }()
	h.up.RetryBudget().Request()
	if isWebSocket(r) {
		h.serveWebSocket(ctx, w, r)
		return
	}

	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	policy := h.up.RetryPolicy()
	body, err := retry.Prepare(r, policy.Attempts > 0)
	if err != nil {
		if r.Context().Err() == nil {
			h.localReply(ctx, w, localreply.BadRequest, 400, "reading the request body: "+err.Error())
		}
		return
	}

	key := clientKey(r)
	var avoid *balancer.Endpoint
	var a attempt
	for n := 0; ; n++ {
		h.try(&a, ctx, r, &body, key, avoid)
		switch {
		case a.refused != nil:
			h.localReply(ctx, w, *a.refused, a.refused.Status(), a.detail)
			return
		case a.clientGone:
			return
		}
		if !a.failed() {
			h.respond(ctx, w, r, &a, false)
			return
		}
		exhausted := false
		if h.retryable(ctx, r, &body, policy, n, &a) {
			if h.up.RetryBudget().TryRetry() {
				a.discard()
				stats.Retry()
				avoid = a.lease.Endpoint()
				noteRetry(ctx, n+1, &a)
				continue
			}
			exhausted = true
		}
		if a.resp != nil {
			h.respond(ctx, w, r, &a, exhausted)
			return
		}
		if exhausted {
			h.localReply(ctx, w, localreply.RetryBudgetExhausted, localreply.RetryBudgetExhausted.Status(), a.detail)
			return
		}
		h.localReply(ctx, w, a.reason, a.reason.Status(), a.detail)
		return
	}
}

// retryable reports whether a failed attempt may be tried again: attempts
// left, the failure listed in `retries.on`, a method that is safe to repeat
// (or nothing was sent), a body that can be sent again, time left, and a
// closed breaker (no retries into an open or half-open one).
func (h *Handler) retryable(ctx context.Context, r *http.Request, body *retry.Body, p *retry.Policy, attempt int, a *attempt) bool {
	if attempt >= p.Attempts || ctx.Err() != nil || !p.Matches(a.failure, a.status) {
		return false
	}
	if a.failure != retry.ConnectFailure && (!retry.Idempotent(r.Method) || !body.Replayable()) {
		return false
	}
	if !body.Untouched() && !body.Replayable() {
		return false
	}
	return h.up.Breaker().State() == breaker.Closed
}

// localReply answers for the sidecar, counts it, and notes it on the span.
func (h *Handler) localReply(ctx context.Context, w http.ResponseWriter, reason localreply.Reason, status int, detail string) {
	h.up.Stats().LocalReply(reason)
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("local reply", "upstream", h.up.Name(), "reason", reason.String(), "detail", detail)
	}
	noteLocalReply(ctx, reason, status)
	localreply.Write(w, reason, status, detail)
}

// outbound builds the request to the endpoint. The inbound request is read,
// never modified (STYLE.md 10): the URL is copied, the header map is new
// (its value slices shared), and Host is passed through unchanged.
// With tracing on, the caller's trace headers are replaced by the
// sidecar's span (tr.Inject).
func outbound(ctx context.Context, tr *tracing.Tracing, in *http.Request, addr string, body io.ReadCloser) *http.Request {
	u := new(url.URL)
	*u = *in.URL
	u.Scheme = "http"
	u.Host = addr
	u.User = nil

	hdr := make(http.Header, len(in.Header)+1)
	copyEndToEnd(hdr, in.Header, true)
	hdr["X-Forwarded-For"] = appendForwardedFor(in.Header["X-Forwarded-For"], clientIP(in.RemoteAddr))
	tr.Inject(ctx, hdr)

	out := &http.Request{
		Method:        in.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          body,
		ContentLength: in.ContentLength,
		Host:          in.Host,
	}
	return out.WithContext(ctx)
}
