package h1

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// response is the server's http.ResponseWriter. It also implements
// http.Flusher, http.Hijacker and the methods http.NewResponseController
// looks for (FlushError, Hijack, SetReadDeadline, SetWriteDeadline,
// EnableFullDuplex).
//
// Like net/http's, it must be used by one goroutine at a time and not after
// ServeHTTP returns. The one concurrent entry point is sendContinue, called
// from r.Body.Read on whatever goroutine reads the body; it and everything
// else that writes an interim response hold cmu.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil if the request has no body
	isHEAD bool
	http10 bool

	handlerHeader http.Header   // what Header returns
	w             *bufio.Writer // body bytes before framing; writes into chunkWriter

	wroteHeader   bool        // a final status was chosen
	status        int         // the final status
	header        http.Header // snapshot of handlerHeader at WriteHeader
	contentLength int64       // declared by the handler, or -1
	written       int64       // body bytes accepted by Write
	trailers      []string    // names declared in the Trailer field

	committed   bool // the final head is in c.bw
	framing     framing
	closeAfter  bool // close the connection after this response
	hijacked    bool
	handlerDone bool

	cmu          sync.Mutex
	canContinue  bool // 100 Continue may still be sent
	sentContinue bool

	sentMark int64 // conn.sent when the final status was chosen
}

type framing int

const (
	framingNone    framing = iota // no body: HEAD, 1xx, 204, 304
	framingFixed                  // Content-Length
	framingChunked                // Transfer-Encoding: chunked
	framingRaw                    // close-delimited (HTTP/1.0) or after 101
)

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

var errAfterHandler = errors.New("h1: ResponseWriter used after the handler returned")

func newResponse(c *conn, req *http.Request, b *body) *response {
	w := &response{
		c:             c,
		req:           req,
		body:          b,
		isHEAD:        req.Method == http.MethodHead,
		http10:        req.ProtoMinor == 0,
		handlerHeader: make(http.Header),
		contentLength: -1,
		canContinue:   b != nil && b.expectContinue,
	}
	if c.rbw == nil {
		c.rbw = bufio.NewWriterSize(chunkWriter{w}, bufSize)
	} else {
		c.rbw.Reset(chunkWriter{w})
	}
	w.w = c.rbw
	return w
}

// snapshotHeader copies the handler's header map as WriteHeader found it
// into the connection's own map (cleared; the handler never sees it):
// later changes to the handler's map (not to its value slices, which are
// shared — net/http copies those too, the proxy never changes one) do not
// reach the head.
func (w *response) snapshotHeader() http.Header {
	snap := w.c.snap
	if snap == nil {
		snap = make(http.Header, len(w.handlerHeader))
		w.c.snap = snap
	}
	clear(snap)
	for k, vv := range w.handlerHeader {
		snap[k] = vv[:len(vv):len(vv)] // an append by the handler copies
	}
	return snap
}

func (w *response) Header() http.Header { return w.handlerHeader }

// WriteHeader sends an interim response for 1xx codes other than 101 (not
// to HTTP/1.0 clients, RFC 9110 §15.2) and otherwise records the final
// status and snapshots the header map; the head goes out with the first
// body bytes beyond the buffer, on Flush, or when the handler returns. A
// second final WriteHeader is ignored; a code outside 100–999 becomes 500.
//
// WriteHeader(101) without Hijack writes the head with no framing, sends
// later writes raw, and closes the connection when the handler returns.
func (w *response) WriteHeader(code int) {
	if w.hijacked || w.handlerDone {
		w.debug("WriteHeader after Hijack or handler return", code)
		return
	}
	if w.wroteHeader {
		w.debug("superfluous WriteHeader", code)
		return
	}
	if code < 100 || code > 999 {
		w.debug("invalid status code, sending 500", code)
		code = http.StatusInternalServerError
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.disableContinue()
	w.wroteHeader = true
	w.sentMark = w.c.sent
	w.status = code
	w.header = w.snapshotHeader()
	if vv := w.header["Content-Length"]; len(vv) > 0 {
		if n, _, err := parseContentLength(vv); err == nil {
			w.contentLength = n
		} else {
			w.debug("invalid Content-Length from handler, ignored", code)
		}
	}
	w.trailers = nil
	for _, v := range w.header["Trailer"] {
		w.trailers = appendTokens(w.trailers, v)
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.handlerDone {
		return 0, errAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHEAD {
		return len(p), nil
	}
	return w.w.Write(p)
}

func bodyAllowed(code int) bool {
	return code == http.StatusSwitchingProtocols ||
		(code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified)
}

// FlushError sends the head (if not yet sent), the buffered body bytes as
// one chunk, and pushes them to the socket.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.handlerDone {
		return errAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	return w.c.bw.Flush()
}

func (w *response) Flush() { _ = w.FlushError() }

// Hijack hands the connection to the handler: any head or body already
// written is flushed, and the returned reader holds the bytes already read
// from the client (including unread request body). From then on the server
// forgets the connection: it is no longer counted by ActiveConns or waited
// for by Shutdown, so the caller must track it for drain. r.Body must not
// be used after Hijack.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.handlerDone {
		return nil, nil, errAfterHandler
	}
	w.disableContinue()
	c := w.c
	if w.wroteHeader {
		if !w.committed {
			w.commit(false)
		}
		w.w.Flush()
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.cr.endRequest()
	if c.cr.pendingByte() {
		// Move the byte read in the background into br, so that a caller
		// that drains br and then reads rwc directly loses nothing.
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	c.hijacked = true
	c.s.untrack(c)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline sets the connection's read deadline, for body reads. As
// with net/http, a deadline that expires after the body was fully read ends
// the background read that watches for a disconnect, which cancels the
// request context.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline, for the
// response's writes — lazily: a deadline later than the one set by less
// than a sixteenth of the time left to it changes nothing (each change
// updates the runtime's timers, and a proxy sets one before every write).
// It is kept for the connection's next requests while it has time left;
// a request that finds it about to run out starts without one.
func (w *response) SetWriteDeadline(t time.Time) error {
	c := w.c
	if !t.IsZero() && !c.armedW.IsZero() && !t.Before(c.armedW) && t.Sub(c.armedW) <= c.armedSlack {
		return nil
	}
	c.armedW = t
	if !t.IsZero() {
		c.armedSlack = time.Until(t) / 16
	}
	return c.rwc.SetWriteDeadline(t)
}

// Rewind discards the response written so far, if none of it has reached
// the client, and reports whether it did: the handler may then write a
// different response (a proxy whose upstream failed while its answer was
// still in the buffers gives a 502 rather than a truncated answer). It
// reports false after Hijack or once any byte of the final response left
// for the socket; a response not yet started is trivially rewound.
func (w *response) Rewind() bool {
	if w.hijacked || w.handlerDone {
		return false
	}
	if !w.wroteHeader {
		return true
	}
	if w.c.sent != w.sentMark {
		return false
	}
	w.w.Reset(chunkWriter{w})
	w.c.bw.Reset(sentCounter{w.c})
	w.wroteHeader, w.committed = false, false
	w.status, w.header, w.trailers = 0, nil, nil
	w.contentLength, w.written = -1, 0
	w.framing, w.closeAfter = framingNone, false
	w.handlerHeader = make(http.Header)
	return true
}

// EnableFullDuplex is a no-op that succeeds: the body stays readable after
// the response head is sent, always (the server never drains it early).
func (w *response) EnableFullDuplex() error { return nil }

// sendContinue is the body's first-read hook for "Expect: 100-continue":
// the client waits for it before sending the body (RFC 9110 §10.1.1). Only
// sent while no final response has been chosen.
func (w *response) sendContinue() {
	w.cmu.Lock()
	defer w.cmu.Unlock()
	if !w.canContinue {
		return
	}
	w.canContinue, w.sentContinue = false, true
	w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	w.c.bw.Flush()
}

func (w *response) disableContinue() {
	w.cmu.Lock()
	w.canContinue = false
	w.cmu.Unlock()
}

// continuePending reports whether the client is still waiting for a 100
// Continue that will now never come, so its body may never arrive.
func (w *response) continuePending() bool {
	if w.body == nil || !w.body.expectContinue || w.body.eof.Load() {
		return false
	}
	w.cmu.Lock()
	defer w.cmu.Unlock()
	return !w.sentContinue
}

func (w *response) writeInterim(code int) {
	if w.http10 {
		w.debug("1xx response to HTTP/1.0 client dropped", code)
		return
	}
	w.cmu.Lock()
	defer w.cmu.Unlock()
	if code == http.StatusContinue {
		if w.sentContinue {
			return
		}
		w.canContinue, w.sentContinue = false, true
	}
	w.c.writeStatusLine(code)
	w.c.writeFields(w.handlerHeader, 0)
	w.c.bw.WriteString("\r\n")
	w.c.bw.Flush()
}

func (w *response) debug(msg string, code int) {
	lg := w.c.s.lg
	if lg.Enabled(context.Background(), slog.LevelDebug) {
		lg.Debug("h1: "+msg, "remote", w.c.remoteAddr, "status", code)
	}
}
