package proxy

import (
	"context"
	"errors"
	"os"

	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// classify says what a failed round trip, or a failed read of an
// answer's body, means. clientCtx is the client's own request context,
// cancelled when it goes away (or the sidecar closes); timedOut is set
// when per_try_timeout ended the try. The client's faults come first: a
// failure while reading the request's body, or after the client left, is
// never the endpoint's.
func classify(clientCtx context.Context, err error, timedOut bool) upstream.Outcome {
	var be *h1.RequestBodyError
	var re *h1.RequestError
	var pe *h1.ProtocolError
	switch {
	case errors.As(err, &be), errors.As(err, &re), clientCtx.Err() != nil:
		return upstream.Failed(upstream.ClientGone)
	case errors.As(err, new(*h1.LocalError)):
		return upstream.Failed(upstream.NotReady)
	case h1.DialFailed(err) && !timedOut:
		// No connection (connect_timeout and mTLS handshakes included):
		// connect_failure, whatever ended it.
		return upstream.Failed(upstream.ConnectFailed)
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return upstream.Failed(upstream.TimedOut)
	case errors.As(err, &pe):
		return upstream.Failed(upstream.ProtocolError)
	}
	return upstream.Failed(upstream.Reset)
}

// clientBodyError is the client's body failure inside err, if any.
func clientBodyError(err error) error {
	var be *h1.RequestBodyError
	if errors.As(err, &be) {
		return be.Err
	}
	return nil
}
