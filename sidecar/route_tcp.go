package sidecar

import (
	"crypto/tls"

	"github.com/outrigger-mesh/outrigger/sidecar/tcpproxy"
)

// tcpRoute is protocol tcp: connections relayed byte for byte to the
// endpoint with the fewest open connections (sidecar/tcpproxy). There is no
// pool of upstream connections to drop, and no handler to swap: a reload
// hands the port to a new server, and the old one drains its pairs.
func (s *Sidecar) tcpRoute(r *route, tlsCfg *tls.Config) {
	r.srv = tcpproxy.New(r.up, tcpproxy.Options{Logger: s.log, TLS: tlsCfg, AccessLog: s.accessLog})
}
