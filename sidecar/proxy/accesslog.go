package proxy

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
)

// logRequest writes the request's access-log line (docs/access-log.md)
// when serve returns, however it ends (an aborted exchange too). serve
// defers it only while the access log is on; lg is the Logger that was in
// use when the request started (its clock), and the line goes to the one
// in use now, so a reload that swaps the Logger mid-request loses
// nothing. r is the request as received (before a route's prefix was
// stripped); span is serve's, read when it returns.
func (h *Handler) logRequest(lg *accesslog.Logger, start time.Time, cs *clientSide, r *http.Request, span *trace.Span, via *Via) {
	cur := h.alog.Logger()
	if cur == nil {
		return // switched off by a reload meanwhile
	}
	e := accesslog.Entry{
		Time:     start,
		Method:   accesslog.Method(r.Method),
		Path:     accesslog.Detach(accesslog.Target(r)),
		Status:   cs.status,
		Duration: lg.Now().Sub(start),
		BytesOut: cs.written,
		Endpoint: cs.endpoint,
		Retries:  cs.retries,
		Error:    cs.reply,
		Client:   r.RemoteAddr,
	}
	switch {
	case via != nil:
		e.Listener, e.Route, e.Upstream = via.Listener, via.Route, h.up.Name()
	case h.spanKind == trace.SpanKindServer:
		e.Listener = inboundListener
	default:
		e.Upstream = h.up.Name()
	}
	if e.Status == 0 {
		e.Status = accesslog.StatusClientGone
	}
	if r.Method == http.MethodHead {
		e.BytesOut = 0 // the server sends no body, whatever was written
	}
	if cs.reader != nil {
		e.BytesIn = cs.reader.read.Load()
	}
	if *span != nil && (*span).SpanContext().HasTraceID() {
		e.TraceID = (*span).SpanContext().TraceID()
	} else { // tracing off (the header was not extracted), or refused before the span
		e.TraceID = accesslog.TraceParent(r.Header)
	}
	cur.Enqueue(&e)
}

// inboundListener is the access log's listener name for the inbound
// listener's requests.
const inboundListener = "inbound"
