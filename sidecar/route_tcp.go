package sidecar

import (
	"errors"

	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// tcpServer is protocol tcp: connections relayed byte for byte to the
// endpoint with the fewest open connections (not built yet).
func (s *Sidecar) tcpServer(up *upstream.Upstream) (listenerServer, func(), error) {
	return nil, nil, errors.New(`"tcp" is not supported by this build yet; use http`)
}
