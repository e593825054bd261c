package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// responseHead is a parsed status line and header section.
type responseHead struct {
	code   int
	minor  int    // 0 or 1
	status string // "200 OK", as http.Response.Status
	header http.Header
}

// readResponseHead reads one response head — status line through the empty
// line — into buf with the request's line reader (readHeadLines), at most
// limit bytes (else an oversized-head *ProtocolError, detected while
// reading so memory stays bounded) and with no empty line before the
// status line: a request may follow a stray CRLF, an answer on a
// connection kept in step may not.
func readResponseHead(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	buf, fault, err := readHeadLines(br, buf, limit, 0)
	switch fault {
	case faultTooLong:
		return buf, protocolError(reasonHeadTooLarge)
	case faultBareLF:
		return buf, protocolError(reasonRespBareLF)
	case faultBareCR:
		return buf, protocolError(reasonRespBareCR)
	case faultEmptyLine:
		return buf, protocolError(reasonEmptyLine)
	}
	return buf, err
}

// parseResponseHead parses a complete head s with the server's field rules
// (parseFieldLine): no obs-fold, no whitespace before the colon, token
// names, values without CTLs.
func parseResponseHead(s string) (responseHead, error) {
	var rh responseHead
	i := strings.IndexByte(s, '\n')
	line := s[:i-1]
	// status-line = HTTP-version SP status-code SP [ reason-phrase ];
	// "HTTP/1.1 200" without the second space is common and accepted.
	proto, rest, ok := strings.Cut(line, " ")
	switch {
	case !ok:
		return rh, protocolError(reasonStatusLine)
	case proto == "HTTP/1.1":
		rh.minor = 1
	case proto == "HTTP/1.0":
	default:
		return rh, protocolError(reasonStatusLine)
	}
	code, reason, hasReason := strings.Cut(rest, " ")
	if len(code) != 3 || (!hasReason && reason != "") || !validFieldValue(reason) {
		return rh, protocolError(reasonStatusLine)
	}
	for j := 0; j < 3; j++ {
		if code[j] < '0' || code[j] > '9' {
			return rh, protocolError(reasonStatusLine)
		}
	}
	rh.code, _ = strconv.Atoi(code)
	if rh.code < 100 {
		return rh, protocolError(reasonStatusLine)
	}
	rh.status = rest

	fields := s[i+1:]
	if strings.Count(fields, "\n")-1 > maxResponseFields {
		return rh, protocolError(reasonTooManyRespFields)
	}
	h, rerr := parseFields(fields)
	if rerr != nil {
		return rh, protocolError(rerr.Reason)
	}
	rh.header = h
	return rh, nil
}

var protoName = [2]string{"HTTP/1.0", "HTTP/1.1"}

// maxResponseFields caps an answer's header fields: within
// limits.max_response_header_bytes a head can still hold thousands of tiny
// fields, each a map entry, copied again on the way to the client.
const maxResponseFields = 1000

// readResponse reads the answer to req from c: interim 1xx heads are
// skipped (at most maxInterim of them), and the whole of the heads read
// may be at most maxBytes. It sets up the body; see upBody.
func (cl *Client) readResponse(c *upConn, req *http.Request) (*http.Response, *upBody, error) {
	left := cl.maxHeaderBytes
	for interim := 0; ; interim++ {
		buf, err := readResponseHead(c.br, c.scratch[:0], left)
		if cap(buf) <= 8<<10 {
			c.scratch = buf[:0]
		}
		if err != nil {
			return nil, nil, err
		}
		left -= len(buf)
		rh, err := parseResponseHead(string(buf))
		if err != nil {
			return nil, nil, err
		}
		if rh.code < 200 && rh.code != http.StatusSwitchingProtocols {
			if interim >= cl.maxInterim {
				return nil, nil, protocolError(reasonTooManyInterim)
			}
			continue
		}
		return cl.frame(c, req, rh)
	}
}

// frame builds the response and its body from a final head (RFC 9112
// §6.3). The framing rules are the server's for requests
// (messageFraming); what differs is which answers carry no body: a HEAD
// answer, 204 and 304 (and a 2xx to CONNECT or a 101, after which the
// connection is a tunnel).
func (cl *Client) frame(c *upConn, req *http.Request, rh responseHead) (*http.Response, *upBody, error) {
	h := rh.header
	chunked, length, canonical, rerr := messageFraming(h, rh.minor == 0)
	if rerr != nil {
		return nil, nil, protocolError(rerr.Reason)
	}
	if !canonical {
		// Repeated or listed Content-Length values are collapsed in a
		// request (RFC 9110 §8.6 allows it); from an upstream, one plain
		// value or a refusal: net/http's client refuses a list too.
		return nil, nil, protocolError(reasonBadCL)
	}
	resp := &http.Response{
		Status:        rh.status,
		StatusCode:    rh.code,
		Proto:         protoName[rh.minor],
		ProtoMajor:    1,
		ProtoMinor:    rh.minor,
		Header:        h,
		ContentLength: length,
		Request:       req,
	}
	conn := h["Connection"]
	resp.Close = hasToken(conn, "close") || (rh.minor == 0 && !hasToken(conn, "keep-alive"))

	upgraded := rh.code == http.StatusSwitchingProtocols ||
		(req.Method == http.MethodConnect && rh.code >= 200 && rh.code < 300)
	if upgraded {
		if rh.code == http.StatusSwitchingProtocols && len(req.Header["Upgrade"]) == 0 {
			return nil, nil, protocolError(reasonUnsolicited101)
		}
		return resp, &upBody{cl: cl, c: c, tunnel: true}, nil
	}
	if chunked {
		delete(h, "Transfer-Encoding")
		resp.TransferEncoding = []string{"chunked"}
		resp.Trailer = declaredTrailers(h["Trailer"])
		delete(h, "Trailer")
	}
	b := &upBody{cl: cl, c: c, keep: !resp.Close}
	switch {
	case req.Method == http.MethodHead || rh.code == http.StatusNoContent || rh.code == http.StatusNotModified:
		b.none = true
	case chunked:
		b.r = &body{br: c.br, chunked: true, trailer: resp.Trailer, maxTrailer: cl.maxHeaderBytes}
	case length == 0:
		b.none = true
	case length > 0:
		b.r = &body{br: c.br, remaining: length}
	default:
		// Neither field: the body runs until the upstream closes.
		b.r, b.keep = c.br, false
		resp.Close = true
	}
	return resp, b, nil
}

// upBody is a response body. Read to its end, it puts the connection back
// in the pool — unless bytes beyond the end are already there: then the
// answer was longer than it said (a body on a HEAD answer, more than its
// Content-Length), the read fails with a *ProtocolError and the
// connection is closed. Closed early, or failing, it closes the
// connection (its framing position is unknown).
type upBody struct {
	cl     *Client
	c      *upConn
	p      *connPool
	r      io.Reader // nil when none
	none   bool      // no body at all
	tunnel bool      // 101 or 2xx to CONNECT: the raw connection
	keep   bool
	done   bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.tunnel {
		return b.c.br.Read(p)
	}
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF && b.keep && b.c.br.Buffered() > 0:
		b.finish(false)
		return n, protocolError(reasonExtraBytes)
	case err == io.EOF:
		b.finish(b.keep)
	case err != nil:
		b.finish(false)
		err = asProtocolError(err)
	}
	return n, err
}

// Write sends bytes on a tunnel (after a 101 or a CONNECT's 2xx).
func (b *upBody) Write(p []byte) (int, error) {
	if !b.tunnel {
		return 0, errors.New("h1: response body is not a tunnel")
	}
	return b.c.Write(p)
}

// CloseWrite half-closes a tunnel, when the connection can.
func (b *upBody) CloseWrite() error {
	if cw, ok := b.c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return b.c.Close()
}

// finish ends the body's hold on the connection: back to the pool if reuse
// and everything allows it, else closed.
func (b *upBody) finish(reuse bool) {
	if b.done {
		return
	}
	b.done = true
	// endWatch is false when the request's context already fired: its
	// deadline poke may still land on the connection.
	if stopped := b.c.endWatch(); reuse && stopped {
		b.cl.put(b.p, b.c)
		return
	}
	b.c.Close()
}

// Close ends the body. A tunnel's Close may come from any goroutine (a
// drain closes tunnels under their relays), so it only closes the
// connection.
func (b *upBody) Close() error {
	if b.tunnel {
		return b.c.Close()
	}
	b.finish(false)
	return nil
}

// Ready reports whether the next Read returns without reading the
// connection (ReadyReader): a relay of a chunked answer then holds its
// flush, so an answer that arrived whole leaves in one write.
func (b *upBody) Ready() bool {
	switch {
	case b.tunnel:
		return b.c.br.Buffered() > 0
	case b.done || b.none:
		return true
	}
	if r, ok := b.r.(ReadyReader); ok {
		return r.Ready()
	}
	return b.c.br.Buffered() > 0 // the body runs to the close: raw bytes
}
