package tcpproxy

import (
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
)

// logConn writes a connection's access-log line (docs/access-log.md) when
// serve returns: no method, path or status (0), the bytes each way, the
// last endpoint tried, and the code of a refusal (connect_failure,
// overflow, ...) or of an endpoint that broke the stream (upstream_reset).
// lg is the Logger in use when the connection came (its clock); the line
// goes to the one in use now.
func (s *Server) logConn(lg *accesslog.Logger, start time.Time, sess *session) {
	cur := s.alog.Logger()
	if cur == nil {
		return
	}
	e := accesslog.Entry{
		Time:     start,
		Upstream: s.up.Name(),
		Duration: lg.Now().Sub(start),
		BytesIn:  sess.moved[toUpstream].Load(),
		BytesOut: sess.moved[toClient].Load(),
		Endpoint: sess.endpoint,
		Retries:  sess.retries,
		Error:    sess.reply,
		Client:   sess.client.RemoteAddr().String(),
	}
	cur.Enqueue(&e)
}
