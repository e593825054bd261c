package proxy

import (
	"context"
	"errors"
	"net"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// attemptError says what a failed round trip means for the client and for
// the endpoint's accounting.
type attemptError struct {
	reason     localreply.Reason
	clientGone bool // the client cancelled or the sidecar is closing: not the endpoint's fault
}

// classify maps a RoundTrip or body error to a local-reply reason.
// clientCtx is the inbound request's context; tryCtx the one the attempt ran
// under (it carries the timeout).
func classify(clientCtx, tryCtx context.Context, err error) attemptError {
	if clientCtx.Err() != nil {
		return attemptError{clientGone: true}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(tryCtx.Err(), context.DeadlineExceeded) {
		return attemptError{reason: localreply.UpstreamTimeout}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return attemptError{reason: localreply.ConnectFailure}
	}
	return attemptError{reason: localreply.UpstreamReset}
}
