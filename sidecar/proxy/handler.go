// Package proxy is the request path of an HTTP listener: admit the request
// (the concurrency cap), then attempt it — an upstream.Attempt per try,
// forwarded through a Transport — retrying what the upstream's retry gate
// allows; stream the chosen answer back and end the attempt once its body
// is done. Local replies (docs/contract.md, "Local replies") are written
// here too. The wire formats live elsewhere: h1 (HTTP/1.1 both ways) and
// h2c (protocol http2).
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/ratelimit"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// Handler serves the requests of one upstream listener. It is an
// http.Handler: ServeHTTP runs concurrently, one call per request.
type Handler struct {
	up        *upstream.Upstream
	transport Transport
	log       *slog.Logger
	tr        *tracing.Tracing // nil: tracing off
	spanKind  trace.SpanKind
	spanNames spanNames // "GET payments", made once
	timeout   time.Duration
	idle      time.Duration // limits.stream_idle_timeout
	tunnels   bool          // WebSocket and CONNECT may be relayed
	authorize func(*http.Request) bool
	limit     *ratelimit.Limiter // the upstream's rate_limit; nil: off
	alog      *accesslog.Sink    // the access log; nil or without a Logger: off
	upgraded  Tunnels
	inflight  atomic.Int64 // ServeHTTP calls running, for Retire
}

// Options are a Handler's optional parts.
type Options struct {
	Logger  *slog.Logger
	Tracing *tracing.Tracing
	// Inbound marks the handler of the inbound listener (a SERVER span)
	// rather than of an upstream listener (a CLIENT span).
	Inbound bool
	// StreamIdleTimeout is limits.stream_idle_timeout: a request moving no
	// byte with its client for this long is ended. 0: none.
	StreamIdleTimeout time.Duration
	// Tunnels lets WebSocket upgrades and CONNECT through: the transport
	// hands over the upstream connection on a 101 or a CONNECT's 2xx
	// (h1.Client does; an HTTP/2 connection cannot switch).
	Tunnels bool
	// Authorize, when set, decides each request first (the mesh's
	// inbound listener: Consul intentions, docs/connect.md); false is a
	// 403 forbidden. It is called concurrently and must not block.
	Authorize func(r *http.Request) bool
	// AccessLog is the sidecar's access log (docs/access-log.md); nil:
	// none. Its Logger is loaded per request, so a reload can switch it.
	AccessLog *accesslog.Sink
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
	return &Handler{up: up, transport: t, log: log, tr: opts.Tracing, spanKind: kind, spanNames: newSpanNames(up.Name()),
		timeout: up.Config().Timeout, idle: opts.StreamIdleTimeout, tunnels: opts.Tunnels, authorize: opts.Authorize,
		limit: ratelimit.New(up.Config().RateLimit, up.Now), alog: opts.AccessLog}
}

// ServeHTTP implements http.Handler: a request on the upstream's own
// listener.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, nil) }

// ServeVia serves a request a routing listener's route sent here: the
// same request path, with the route's name on the span, its prefix
// stripped, and the status sent counted for the route.
func (h *Handler) ServeVia(w http.ResponseWriter, r *http.Request, via *Via) { h.serve(w, r, via) }

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, via *Via) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	ctx := r.Context()
	cs := newClientSide(ctx, w, h.timeout, h.idle)
	var span trace.Span
	if lg := h.alog.Logger(); lg != nil { // off: this nil check is the whole cost
		defer h.logRequest(lg, lg.Now(), &cs, r, &span, via)
	}
	if via != nil {
		defer via.served(&cs) // also when the exchange is aborted (a panic)
		cs.tunnels = via.Tunnels
		var ok bool
		if r, ok = via.rewrite(r); !ok {
			h.localReply(ctx, &cs, w, localreply.BadRequest, http.StatusBadRequest, "the path without the route's prefix has . or .. segments, or starts with //")
			return
		}
	}
	span = trace.SpanFromContext(ctx)
	if h.tr != nil {
		// The span ends when ServeHTTP returns: after the response body.
		// Attributes only on a span that records: a sampled-out request
		// builds none (see tracing.Start).
		ctx, span = h.tr.Start(ctx, r.Header, h.spanKind, h.spanNames.name(r.Method))
		defer span.End()
		if span.IsRecording() {
			span.SetAttributes(tracing.AttrUpstream.String(h.up.Name()), tracing.AttrMethod.String(r.Method), tracing.AttrRetries.Int(0))
			if via != nil {
				span.SetAttributes(tracing.AttrListener.String(via.Listener), tracing.AttrRoute.String(via.Route))
			}
		}
	}
	if h.authorize != nil && !h.authorize(r) {
		h.localReply(ctx, &cs, w, localreply.Forbidden, localreply.Forbidden.Status(), "Consul intentions deny the source service")
		return
	}
	start := h.up.Now() // one clock read for the bucket and the request's duration
	if ok, wait := h.limit.AllowAt(start); !ok {
		h.rateLimited(ctx, &cs, w, wait)
		return
	}
	if !h.up.Admit() {
		h.localReply(ctx, &cs, w, localreply.Overflow, localreply.Overflow.Status(), "max_requests concurrent requests already in flight")
		return
	}
	defer h.up.Release(start)

	rc := newRequestCtx(ctx, h.timeout)
	defer rc.release()
	ctx = rc
	cs.ctx = ctx
	defer cs.end()
	tunnel := isWebSocket(r) || r.Method == http.MethodConnect
	if tunnel && (!h.tunnels || r.ProtoMajor != 1) { // an HTTP/2 stream cannot become a tunnel here
		if r.Method == http.MethodConnect {
			h.localReply(ctx, &cs, w, localreply.BadRequest, http.StatusBadRequest, "CONNECT is not supported on this listener")
			return
		}
		tunnel = false // an Upgrade that cannot be honoured: a plain request
	}
	h.attempt(ctx, &cs, span, w, r, tunnel)
}

// localReply answers for the sidecar, counts it, and notes it on the span.
func (h *Handler) localReply(ctx context.Context, cs *clientSide, w http.ResponseWriter, reason localreply.Reason, status int, detail string) {
	h.up.Stats().LocalReply(reason)
	cs.status = status
	cs.reply = reason.String()
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("local reply", "upstream", h.up.Name(), "reason", reason.String(), "detail", detail)
	}
	noteLocalReply(ctx, reason, status)
	cs.written = localreply.Write(w, reason, status, detail)
}

// abort ends the exchange with the client without an answer (or with a
// truncated one it cannot mistake for whole): the connection is closed
// (HTTP/1.1) or the stream reset (HTTP/2).
func abort() { panic(http.ErrAbortHandler) }
