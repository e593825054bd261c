package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"

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
	var pe *h1.ProtocolError
	switch {
	case errors.As(err, &be), clientCtx.Err() != nil, isRequestTooLarge(err):
		return upstream.Failed(upstream.ClientGone)
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return upstream.Failed(upstream.TimedOut)
	case errors.As(err, &pe), isH2ProtocolError(err):
		return upstream.Failed(upstream.ProtocolError)
	case isDial(err):
		return upstream.Failed(upstream.ConnectFailed)
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

// isDial reports whether err is a failure to connect: nothing was sent.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isH2ProtocolError reports whether an HTTP/2 endpoint broke the
// protocol: net/http's client fails the stream with PROTOCOL_ERROR (a
// header list over limits.max_response_header_bytes, a malformed answer)
// or the connection with COMPRESSION_ERROR (a header field longer than the
// limit). net/http exposes no type for them, hence the text.
func isH2ProtocolError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "PROTOCOL_ERROR") || strings.Contains(s, "COMPRESSION_ERROR")
}

// isRequestTooLarge reports whether the transport refused to send the
// request because its headers exceed what the endpoint said it accepts
// (HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE): the client's request, not the
// endpoint's failure.
func isRequestTooLarge(err error) bool {
	return strings.Contains(err.Error(), "request header list larger than")
}
