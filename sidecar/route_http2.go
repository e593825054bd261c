package sidecar

import (
	"crypto/tls"

	"github.com/outrigger-mesh/outrigger/sidecar/h2c"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
)

// http2Route is protocol http2: h2c with prior knowledge in from the app,
// h2c to the endpoints, through the same proxy handler as protocol http
// (docs/http2.md). A connection that does not open with the HTTP/2 preface
// is served by the strict HTTP/1.1 codec of protocol http, so curl and
// health checks without --http2-prior-knowledge still work; their requests
// go out as HTTP/2 too, without any Upgrade (no WebSocket or CONNECT on
// http2 listeners: an HTTP/2 connection cannot switch).
func (s *Sidecar) http2Route(r *route, inbound, serves bool, tlsCfg *tls.Config) {
	transport := h2c.NewTransport(r.up.Config(), int(s.cfg.Load().Limits.MaxResponseHeaderBytes), tlsCfg)
	r.handler = proxy.NewHandler(r.up, transport, s.handlerOptions(inbound, false))
	r.slot = proxy.NewSlot(r.handler)
	if serves {
		r.srv = h2c.NewServer(r.slot, s.h1Server(h2c.StripUpgrade(r.slot), r.slot), s.log)
	}
	r.closeIdle = transport.CloseIdleConnections
}
