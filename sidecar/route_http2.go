package sidecar

import (
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// http2Server is protocol http2: h2c with prior knowledge in from the app,
// h2c to the endpoints, through the same proxy handler as protocol http
// (docs/http2.md). A connection that does not open with the HTTP/2 preface
// is served by the strict HTTP/1.1 codec of protocol http, so curl and
// health checks without --http2-prior-knowledge still work; their requests
// go out as HTTP/2 too, without any Upgrade (no WebSocket on http2
// listeners: an HTTP/2 connection cannot switch). The second result drops the pooled connections.
func (s *Sidecar) http2Server(up *upstream.Upstream, inbound bool) (listenerServer, func(), error) {
	transport := proxy.NewH2CTransport(up.Config())
	handler := proxy.NewHandler(up, transport, proxy.Options{Logger: s.log, Tracing: s.tracing, Inbound: inbound})
	http1 := &h1.Server{
		Handler: proxy.StripUpgrade(handler),
		OnBadRequest: func(int, string) {
			up.Stats().LocalReply(localreply.BadRequest)
		},
		Logger: s.log,
	}
	return proxy.NewH2CServer(handler, http1, s.log), transport.CloseIdleConnections, nil
}
