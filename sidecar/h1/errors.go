package h1

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("h1: server closed")

// RequestError is a request the codec refuses: a malformed or ambiguous head
// (from ReadRequest) or a malformed chunked body (from Request.Body.Read).
type RequestError struct {
	Status int    // http.StatusBadRequest or http.StatusRequestHeaderFieldsTooLarge
	Reason string // short, from a fixed set; safe as a metrics label
}

func (e *RequestError) Error() string { return "h1: " + e.text() }

// text is the reply body (without the newline), e.g.
// "bad request: both Content-Length and Transfer-Encoding".
func (e *RequestError) text() string {
	if e.Status == http.StatusBadRequest {
		return "bad request: " + e.Reason
	}
	return e.Reason
}

// Reasons. They are constants so that OnBadRequest's label set stays bounded.
const (
	reasonTooLarge        = "request headers too large"
	reasonTooManyFields   = "too many request header fields"
	reasonBareLF          = "bare LF in request head"
	reasonBareCR          = "bare CR in request head"
	reasonEmptyLines      = "more than one empty line before request line"
	reasonRequestLine     = "malformed request line"
	reasonMethod          = "invalid method"
	reasonTarget          = "invalid request-target"
	reasonVersion         = "unsupported HTTP version"
	reasonObsFold         = "obsolete line folding"
	reasonFieldLine       = "malformed header line"
	reasonSpaceBeforeColn = "whitespace before colon in header name"
	reasonFieldName       = "invalid header name"
	reasonFieldValue      = "invalid header value"
	reasonNoHost          = "missing Host header"
	reasonManyHosts       = "multiple Host headers"
	reasonBadHost         = "invalid Host header"
	reasonCLAndTE         = "both Content-Length and Transfer-Encoding"
	reasonBadCL           = "invalid Content-Length"
	reasonConflictingCL   = "conflicting Content-Length values"
	reasonBadTE           = "unsupported Transfer-Encoding"
	reasonTEInHTTP10      = "Transfer-Encoding in HTTP/1.0 request"
	reasonExpect          = "unsupported Expect"

	reasonChunkSize      = "invalid chunk size"
	reasonChunkSizeLarge = "chunk size too large"
	reasonChunkExt       = "invalid chunk extension"
	reasonChunkExtLong   = "chunk extensions too long"
	reasonChunkBareLF    = "bare LF in chunked body"
	reasonChunkBareCR    = "bare CR in chunked body"
	reasonChunkDataCRLF  = "missing CRLF after chunk data"
	reasonTrailerLarge   = "trailer section too large"
)

func badRequest(reason string) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Reason: reason}
}

func tooManyFields() *RequestError {
	return &RequestError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: reasonTooManyFields}
}

func tooLarge() *RequestError {
	return &RequestError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: reasonTooLarge}
}

// writeReject writes the codec's own reply for e. The connection is always
// closed afterwards, so the reply says Connection: close (RFC 9112 §9.6).
func writeReject(bw *bufio.Writer, e *RequestError) error {
	body := e.text() + "\n"
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(e.Status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(e.Status))
	bw.WriteString("\r\nConnection: close\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Outrigger-Error: bad_request\r\n\r\n")
	bw.WriteString(body)
	return bw.Flush()
}
