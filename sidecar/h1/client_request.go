package h1

import (
	"bufio"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// copyBufSize is the chunk size the client reads a request body in.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// writeRequest writes req's head and body to w and flushes. The head is
// written with the same rules the server applies when reading: field names
// must be tokens and values free of CTLs (a value with CR or LF would
// split the request), the framing fields are the client's own, and the
// target of a CONNECT is its authority ("host:port"), not a path.
//
// A failure to read req.Body is returned as a *RequestBodyError (the
// client's side failed); any other error is the connection's.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	if req.Method == http.MethodConnect {
		w.WriteString(req.Host)
	} else {
		w.WriteString(req.URL.RequestURI())
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if !isToken(k) {
			continue
		}
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // the client's own
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				continue // never let CR/LF split the request
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	body := req.Body
	hasBody := body != nil && body != http.NoBody
	chunked := hasBody && req.ContentLength < 0
	switch {
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
		writeTrailerDecl(w, req.Trailer)
	case req.ContentLength > 0:
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n")
	case methodWantsBody(req.Method):
		// A POST, PUT or PATCH without a body still says so, as clients
		// do, so the upstream does not wait for one.
		w.WriteString("Content-Length: 0\r\n")
	}
	w.WriteString("\r\n")
	if !hasBody || (!chunked && req.ContentLength == 0) {
		return w.Flush()
	}
	defer body.Close()
	if chunked {
		return writeChunked(w, body, req.Trailer)
	}
	return writeFixed(w, body, req.ContentLength)
}

// writeFixed copies exactly n body bytes; the head and the first of them go
// out in one write.
func writeFixed(w *bufio.Writer, body io.Reader, n int64) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for n > 0 {
		m, err := body.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			n -= int64(m)
			if _, werr := w.Write(buf[:m]); werr != nil {
				return werr
			}
		}
		if n == 0 {
			break
		}
		if err == io.EOF {
			return &RequestBodyError{Err: io.ErrUnexpectedEOF}
		}
		if err != nil {
			return &RequestBodyError{Err: err}
		}
	}
	return w.Flush()
}

// writeChunked sends the body as it arrives, one chunk per read, then the
// last chunk and the request's trailers, which the body's reader filled at
// its end. A stream's pieces must not wait for the next, so what was
// written is flushed before a Read that would wait; a body that says (a
// ReadyReader) that its next piece or its end is already buffered is not
// flushed in between, so a body that arrived whole leaves with the head
// in one write. Any other body is flushed after every chunk.
func writeChunked(w *bufio.Writer, body io.Reader, trailer http.Header) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	rr, _ := body.(ReadyReader)
	for {
		m, err := body.Read(buf)
		if m > 0 {
			w.WriteString(strconv.FormatInt(int64(m), 16))
			w.WriteString("\r\n")
			w.Write(buf[:m])
			w.WriteString("\r\n")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return &RequestBodyError{Err: err}
		}
		if w.Buffered() > 0 && (rr == nil || !rr.Ready()) {
			if werr := w.Flush(); werr != nil {
				return werr
			}
		}
	}
	w.WriteString("0\r\n")
	writeTrailerFields(w, trailer)
	w.WriteString("\r\n")
	return w.Flush()
}

// TrailerAllowed reports whether a field may travel in a trailer: fields
// that frame or route a message never do (RFC 9110 §6.5.1), and an HTTP/2
// endpoint resets a stream whose trailers carry them. Whatever transport
// sends a request, only these go.
func TrailerAllowed(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Connection", "Te":
		return false
	}
	return isToken(k)
}

// writeTrailerDecl announces the trailer names (the Trailer field).
func writeTrailerDecl(w *bufio.Writer, trailer http.Header) {
	first := true
	for _, k := range slices.Sorted(maps.Keys(trailer)) {
		if !TrailerAllowed(k) {
			continue
		}
		if first {
			w.WriteString("Trailer: ")
			first = false
		} else {
			w.WriteString(", ")
		}
		w.WriteString(k)
	}
	if !first {
		w.WriteString("\r\n")
	}
}

func writeTrailerFields(w *bufio.Writer, trailer http.Header) {
	for k, vv := range trailer {
		if !TrailerAllowed(k) {
			continue
		}
		for _, v := range vv {
			if validFieldValue(v) {
				w.WriteString(k)
				w.WriteString(": ")
				w.WriteString(v)
				w.WriteString("\r\n")
			}
		}
	}
}

// methodWantsBody: methods whose requests normally carry content.
func methodWantsBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}
