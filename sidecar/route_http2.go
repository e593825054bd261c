package sidecar

import (
	"errors"

	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// http2Server is protocol http2: h2c in from the app, h2c out to the
// endpoints (not built yet).
func (s *Sidecar) http2Server(up *upstream.Upstream, inbound bool) (listenerServer, func(), error) {
	return nil, nil, errors.New(`"http2" is not supported by this build yet; use http`)
}
