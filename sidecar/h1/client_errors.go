package h1

import (
	"errors"
	"io"
	"net"
	"strings"
)

// ProtocolError is an upstream answer the client refuses: it broke
// HTTP/1.1 framing (bytes beyond its Content-Length, a body where none may
// be, both Content-Length and Transfer-Encoding, a malformed head or
// chunk) or a limit (an oversized head, too many 1xx responses). The
// connection it came on is always closed, never pooled: nothing after such
// an answer can be trusted to belong to the next request.
type ProtocolError struct {
	Reason string // short, from a fixed set; safe as a metrics label
}

func (e *ProtocolError) Error() string { return "h1: upstream protocol error: " + e.Reason }

// Reasons of ProtocolError beyond the shared lexer's (which come from the
// RequestError reasons: "invalid header value", "invalid chunk size", ...).
const (
	reasonHeadTooLarge      = "response head too large"
	reasonTooManyInterim    = "too many informational responses"
	reasonStatusLine        = "malformed status line"
	reasonExtraBytes        = "bytes beyond the end of the response"
	reasonUnsolicited101    = "101 without an upgrade request"
	reasonEmptyLine         = "empty line before status line"
	reasonRespBareLF        = "bare LF in response head"
	reasonRespBareCR        = "bare CR in response head"
	reasonTooManyRespFields = "too many response header fields"
)

func protocolError(reason string) *ProtocolError { return &ProtocolError{Reason: reason} }

// asProtocolError turns a lexer error (a *RequestError: the shared lexer
// speaks of requests) met while reading a response into a *ProtocolError;
// other errors pass unchanged.
func asProtocolError(err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return protocolError(re.Reason)
	}
	return err
}

// RequestBodyError is a failure to read the body of the request being
// sent: the client's side failed (it went away, stalled past a deadline,
// or sent a malformed chunked body), not the upstream. Err is the body's
// own error, e.g. a *RequestError for a malformed body.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string { return "h1: reading the request body: " + e.Err.Error() }
func (e *RequestBodyError) Unwrap() error { return e.Err }

// NotSentError is a failure before any byte of the request reached the
// upstream's connection: the upstream cannot have seen the request, so it
// may be sent again whatever its method.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return e.Err.Error() }
func (e *NotSentError) Unwrap() error { return e.Err }

// Sent reports whether a failed RoundTrip may have delivered (part of) the
// request to the upstream. A dial error or a NotSentError says it did not.
func Sent(err error) bool {
	var ns *NotSentError
	return !errors.As(err, &ns) && !DialFailed(err)
}

// DialFailed reports whether err is a failure to connect: nothing was sent.
func DialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errStale: a pooled connection turned out to be closed by the upstream
// before it answered; the request goes again on a fresh connection (see
// Client.RoundTrip for when that is allowed).
var errStale = errors.New("h1: pooled connection was closed by the upstream")

// isReset reports whether err means the peer closed or reset the
// connection.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}
