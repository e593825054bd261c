package router

import (
	"net/http"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// SetAccessLog makes the listener log the requests it answers itself
// (no_route, a refused path) to s; the requests a route takes are logged
// by the upstream's handler, with the listener's and route's names. Call
// it before the listener serves.
func (h *Handler) SetAccessLog(s *accesslog.Sink) { h.alog = s }

// logReply writes the access-log line of a local reply the listener gave
// at start: there is no upstream, route, endpoint or body read.
func (h *Handler) logReply(lg *accesslog.Logger, start time.Time, r *http.Request, reason localreply.Reason, status int, bytesOut int64) {
	e := accesslog.Entry{
		Time:     start,
		Listener: h.name,
		Method:   accesslog.Method(r.Method),
		Path:     accesslog.Detach(accesslog.Target(r)),
		Status:   status,
		Duration: lg.Now().Sub(start),
		BytesOut: bytesOut,
		Error:    reason.String(),
		TraceID:  accesslog.TraceParent(r.Header),
		Client:   r.RemoteAddr,
	}
	if r.Method == http.MethodHead {
		e.BytesOut = 0
	}
	lg.Enqueue(&e)
}
