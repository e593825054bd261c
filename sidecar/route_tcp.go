package sidecar

import (
	"github.com/outrigger-mesh/outrigger/sidecar/tcpproxy"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// tcpServer is protocol tcp: connections relayed byte for byte to the
// endpoint with the fewest open connections (sidecar/tcpproxy). There is no
// pool of upstream connections to drop, so closeIdle is nil.
func (s *Sidecar) tcpServer(up *upstream.Upstream) (listenerServer, func(), error) {
	return tcpproxy.New(up, tcpproxy.Options{Logger: s.log}), nil, nil
}
