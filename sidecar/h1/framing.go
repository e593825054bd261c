package h1

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// commit decides the response's framing and connection persistence and
// writes the final head into c.bw. final means the handler has returned and
// everything it wrote is still in w.w, so a Content-Length can be computed
// (as net/http does for small bodies).
func (w *response) commit(final bool) {
	w.committed = true
	c, code, h := w.c, w.status, w.header
	if w.req.Close || c.s.inShutdown.Load() || hasToken(h["Connection"], "close") || w.bodyForcesClose() {
		w.closeAfter = true
	}
	var mask fieldMask
	cl := int64(-1) // Content-Length to send
	switch {
	case code == http.StatusSwitchingProtocols:
		// The handler speaks the new protocol over raw writes; keep its
		// Connection and Upgrade fields, and close when it returns.
		w.framing, w.closeAfter, mask = framingRaw, true, keepConnection
	case code == http.StatusNoContent:
		// RFC 9110 §8.6: no Content-Length in a 204.
		w.framing = framingNone
	case code == http.StatusNotModified || w.isHEAD:
		// No body, but the handler's Content-Length describes the
		// representation and may be sent (RFC 9110 §8.6).
		w.framing, cl = framingNone, w.contentLength
	case w.contentLength >= 0:
		w.framing, cl = framingFixed, w.contentLength
	case final && (w.http10 || !w.hasTrailers()):
		w.contentLength = int64(w.w.Buffered())
		w.framing, cl = framingFixed, w.contentLength
	case !w.http10:
		w.framing, mask = framingChunked, keepTrailerDecl
	default:
		// HTTP/1.0 has no chunked coding: the body ends at close.
		w.framing, w.closeAfter = framingRaw, true
	}

	bw := c.bw
	c.writeStatusLine(code)
	c.writeFields(h, mask)
	if cl >= 0 {
		bw.WriteString("Content-Length: ")
		writeInt(bw, cl, 10)
		bw.WriteString("\r\n")
	}
	if w.framing == framingChunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if code != http.StatusSwitchingProtocols {
		if w.closeAfter {
			bw.WriteString("Connection: close\r\n")
		} else if w.http10 {
			bw.WriteString("Connection: keep-alive\r\n")
		}
	}
	bw.WriteString("\r\n")
}

// bodyForcesClose reports whether the request body's state means the
// connection cannot carry another request: it failed, the client still
// waits for a 100 Continue we will not send, or too much is left to drain.
func (w *response) bodyForcesClose() bool {
	b := w.body
	if b == nil || b.eof.Load() {
		return false
	}
	return b.failed.Load() || w.continuePending() || b.unread.Load() > maxDrain
}

func (w *response) hasTrailers() bool {
	if len(w.trailers) > 0 {
		return true
	}
	for k := range w.handlerHeader {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// finish completes the response after the handler returned: the head if
// still pending, buffered body bytes, the last chunk and trailers.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.disableContinue()
	w.handlerDone = true
	if !w.committed {
		w.commit(true)
	}
	bw := w.c.bw
	if w.w.Flush() != nil {
		w.closeAfter = true
	}
	if w.framing == framingChunked {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	if w.framing == framingFixed && w.written < w.contentLength {
		// The client waits for bytes that will never come; only closing
		// tells it the response is truncated.
		w.debug("handler wrote less than its Content-Length; closing", w.status)
		w.closeAfter = true
	}
	if bw.Flush() != nil {
		w.closeAfter = true
	}
}

// writeTrailers sends, as net/http does, the values of the names declared
// in the Trailer field and of keys prefixed with http.TrailerPrefix, as
// they are when the handler returns.
func (w *response) writeTrailers() {
	var t http.Header
	for _, k := range w.trailers {
		if vv := w.handlerHeader[k]; len(vv) > 0 {
			if t == nil {
				t = make(http.Header)
			}
			t[k] = append(t[k], vv...)
		}
	}
	for k, vv := range w.handlerHeader {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && len(vv) > 0 {
			if t == nil {
				t = make(http.Header)
			}
			name = textproto.CanonicalMIMEHeaderKey(name)
			t[name] = append(t[name], vv...)
		}
	}
	if t != nil {
		w.c.writeFields(t, 0)
	}
}

// chunkWriter sits under response.w and frames what it flushes.
type chunkWriter struct{ res *response }

func (cw chunkWriter) Write(p []byte) (int, error) {
	w := cw.res
	if !w.committed {
		w.commit(false)
	}
	if len(p) == 0 {
		return 0, nil // an empty chunk would be the last-chunk
	}
	bw := w.c.bw
	switch w.framing {
	case framingNone:
		return len(p), nil
	case framingChunked:
		writeInt(bw, int64(len(p)), 16)
		bw.WriteString("\r\n")
		bw.Write(p)
		if _, err := bw.WriteString("\r\n"); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return bw.Write(p)
}

type fieldMask int

const (
	keepConnection  fieldMask = 1 << iota // pass the handler's Connection/Keep-Alive
	keepTrailerDecl                       // pass the handler's Trailer field
)

// skipField reports whether the server, not the handler, owns field k.
func skipField(k string, m fieldMask) bool {
	switch k {
	case "Connection", "Keep-Alive":
		// Hop-by-hop: the server decides persistence itself.
		return m&keepConnection == 0
	case "Transfer-Encoding", "Content-Length":
		return true // framing is ours
	case "Trailer":
		return m&keepTrailerDecl == 0
	}
	return strings.HasPrefix(k, http.TrailerPrefix)
}

func (c *conn) writeStatusLine(code int) {
	c.bw.WriteString("HTTP/1.1 ")
	writeInt(c.bw, int64(code), 10)
	c.bw.WriteByte(' ')
	c.bw.WriteString(http.StatusText(code))
	c.bw.WriteString("\r\n")
}

// writeFields writes h's fields in sorted key order. Invalid names and
// values with CTLs (CR, LF and NUL above all: response splitting) are
// skipped and logged at debug level.
func (c *conn) writeFields(h http.Header, m fieldMask) {
	keys := c.keys[:0]
	for k, vv := range h {
		if len(vv) > 0 && !skipField(k, m) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	bw := c.bw
	for _, k := range keys {
		if !isToken(k) {
			c.dropped(k)
			continue
		}
		for _, v := range h[k] {
			if !validFieldValue(v) {
				c.dropped(k)
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	clear(keys)
	c.keys = keys[:0]
}

func (c *conn) dropped(key string) {
	if lg := c.s.lg; lg.Enabled(context.Background(), slog.LevelDebug) {
		lg.Debug("h1: dropped invalid response header", "remote", c.remoteAddr, "key", key)
	}
}

// writeInt writes n (>= 0) in base 10 or 16 without allocating.
func writeInt(bw *bufio.Writer, n int64, base int) {
	var buf [20]byte
	for _, b := range strconv.AppendInt(buf[:0], n, base) {
		bw.WriteByte(b) // not bw.Write: buf would escape
	}
}

// appendTokens appends the canonical names in the comma-separated list v.
func appendTokens(dst []string, v string) []string {
	for v != "" {
		var name string
		name, v, _ = strings.Cut(v, ",")
		if name = trimOWS(name); isToken(name) {
			dst = append(dst, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	return dst
}
