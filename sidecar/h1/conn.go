package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"
)

const (
	// staleWriteDeadline: a write deadline left by an earlier request with
	// less than this to run is lifted before the next request, so the
	// server's own short writes never meet it.
	staleWriteDeadline = time.Second

	bufSize = 4 << 10
	// lingerTimeout and lingerBytes bound the lingering close: after the
	// last response we half-close and read what the client still sends,
	// so that unread input does not make the kernel answer with a RST
	// that destroys the response before the client reads it.
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 256 << 10
)

// conn is one accepted connection. serve runs on its own goroutine and
// owns everything here except state (guarded by Server.mu) and what
// connReader guards.
type conn struct {
	s          *Server
	rwc        net.Conn
	remoteAddr string
	tlsState   *tls.ConnectionState // nil: plaintext
	// ctx is the context of every request on the connection, cancelled
	// when the client goes away (the connection then serves nothing more),
	// when the connection is done, and on Close: one per connection rather
	// than one per request, whose registration and allocation were a few
	// per cent of a proxied request's CPU.
	ctx    context.Context
	cancel context.CancelFunc
	// reqTmpl is an empty request carrying ctx, copied into each new
	// request (no WithContext copy). The request, its header map and the
	// ResponseWriter are new for every request, as net/http's: a handler
	// may keep the request past its return, and a ResponseWriter kept
	// past it fails rather than write into the next answer.
	reqTmpl  *http.Request
	watch    connWatch   // the upstream side of the request in flight, for ctx's end
	snap     http.Header // the head's copy of the handler's header map, reused (never the handler's)
	cr       *connReader
	br       *bufio.Reader
	bw       *bufio.Writer
	rbw      *bufio.Writer // response body buffer, before framing
	scratch  []byte        // head bytes, reused
	keys     []string      // header keys for sorting, reused
	hijacked bool
	state    connState // guarded by s.mu
	// sent counts the bytes written to the socket, so a response can tell
	// whether any of it reached the client (response.Rewind).
	sent int64
	// armedW is the write deadline a handler set (zero: none), kept
	// across requests and moved lazily (response.SetWriteDeadline); a
	// request that finds it stale starts without one.
	armedW     time.Time
	armedSlack time.Duration // how much later a new deadline may be and still be skipped
	// idleDeadline is the read deadline armIdle set (UnixNano), 0 when
	// another was set since; headDeadline: ReadHeaderTimeout is armed.
	idleDeadline int64
	headDeadline bool
}

// sentCounter is the writer under conn.bw: the socket, counted.
type sentCounter struct{ c *conn }

func (s sentCounter) Write(p []byte) (int, error) {
	n, err := s.c.rwc.Write(p)
	s.c.sent += int64(n)
	return n, err
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{s: s, rwc: rwc, remoteAddr: rwc.RemoteAddr().String()}
	if tc, ok := rwc.(*tls.Conn); ok {
		// Handed over after its handshake (the mesh's inbound listener):
		// every request carries the peer's certificates, as net/http's do.
		st := tc.ConnectionState()
		c.tlsState = &st
	}
	ctx, cancel := context.WithCancel(context.WithValue(s.baseCtx, http.LocalAddrContextKey, rwc.LocalAddr()))
	c.ctx, c.cancel = context.WithValue(ctx, watchKey{}, &c.watch), cancel
	c.watch.done = ctx.Done()
	context.AfterFunc(ctx, c.watch.fire)
	c.reqTmpl = new(http.Request).WithContext(c.ctx)
	c.cr = newConnReader(rwc, c.cancel)
	c.br = bufio.NewReaderSize(c.cr, bufSize)
	c.bw = bufio.NewWriterSize(sentCounter{c}, bufSize)
	return c
}

func (c *conn) serve() {
	defer func() {
		c.cancel()
		if !c.hijacked {
			c.s.untrack(c)
		}
	}()
	for {
		if !c.awaitRequest() {
			c.rwc.Close()
			return
		}
		req := new(http.Request)
		*req = *c.reqTmpl // its context: the connection's
		b, err := readRequest(c.br, c.s.maxHeaderBytes(), c.s.maxHeaders(), &c.scratch, req)
		if err != nil {
			var re *RequestError
			if errors.As(err, &re) {
				c.reject(re)
				return
			}
			// EOF, a truncated head or ReadHeaderTimeout: nothing to say.
			c.rwc.Close()
			return
		}
		if b != nil || c.headDeadline {
			// The proxy bounds the handler's reads of the body. (A
			// request without one reads nothing more here: a lazily
			// kept idle deadline may stay; the disconnect watch and a
			// hijacker set their own.)
			c.setReadDeadline(time.Time{})
			c.headDeadline = false
		}
		switch c.serveRequest(req, b) {
		case keepAlive:
		case closeConn:
			c.bw.Flush()
			c.rwc.Close()
			return
		case lingerConn:
			c.lingerClose()
			return
		case abandon:
			return
		}
	}
}

// awaitRequest waits for the first byte of the next request under
// IdleTimeout, then arms ReadHeaderTimeout for the rest of the head unless
// the whole head is already buffered (nothing more will be read for it).
// It returns false if the connection should close instead.
//
// Deadlines are set only when they matter: each change updates the
// runtime's timers, and three per request (idle, head, cleared) were a
// visible share of a keep-alive request's CPU.
func (c *conn) awaitRequest() bool {
	if c.br.Buffered() == 0 && !c.cr.pendingByte() {
		if !c.s.setState(c, stateIdle) {
			return false
		}
		c.armIdle()
		// Let the other connections run first. The client is most
		// likely still reading the answer just written, so a read now
		// would find nothing: a system call that fails (EAGAIN) and a
		// park. After the others' turn its next request has usually
		// arrived, and the read takes it at once. With nothing else
		// runnable this returns at once. (Both yields, this one and
		// Client.exchange's: 4.0 -> 2.2 reads per request under wrk at 16
		// connections, about 10% less CPU per request.)
		runtime.Gosched()
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
	}
	if !c.s.setState(c, stateActive) {
		return false
	}
	if !c.headBuffered() {
		c.setReadDeadline(time.Now().Add(c.s.readHeaderTimeout()))
		c.headDeadline = true
	}
	return true
}

// armIdle keeps the read deadline at now + IdleTimeout for the wait for a
// next request — lazily, like the upstream side's (upConn.arm): it moves
// only when the deadline armed for the last wait is unknown (something
// else set one since) or more than a sixteenth of IdleTimeout behind, so
// an idle connection may be closed up to 1/16 of it early.
func (c *conn) armIdle() {
	if c.cr.deadlineTouched.Swap(false) {
		c.idleDeadline = 0 // the disconnect watch set its own
	}
	idle := c.s.idleTimeout()
	d := time.Now().Add(idle).UnixNano()
	if a := c.idleDeadline; a != 0 && d >= a && d-a <= int64(idle/16) {
		return
	}
	c.rwc.SetReadDeadline(time.Unix(0, d))
	c.idleDeadline = d
}

// setReadDeadline sets a read deadline that is not armIdle's, which then
// sets its own afresh.
func (c *conn) setReadDeadline(t time.Time) error {
	c.idleDeadline = 0
	return c.rwc.SetReadDeadline(t)
}

// headBuffered reports whether the end of a request head (an empty line)
// is already in the read buffer: then reading the head takes no read of
// the connection. (A head the parser refuses is refused from the buffer
// too.)
func (c *conn) headBuffered() bool {
	buf, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(buf, lfCRLF) || bytes.Contains(buf, lfLF)
}

// The end of a head: the last field line's LF, then an empty line (with a
// CR, or a bare LF, which the parser refuses — without reading more).
var (
	lfCRLF = []byte("\n\r\n")
	lfLF   = []byte("\n\n")
)

type outcome int

const (
	keepAlive  outcome = iota
	closeConn          // response done, nothing unread: just close
	lingerConn         // response done, client input unread: lingerClose
	abandon            // hijacked or already closed
)

func (c *conn) serveRequest(req *http.Request, b *body) outcome {
	if !c.armedW.IsZero() && time.Until(c.armedW) < staleWriteDeadline {
		// A write deadline a handler set runs out soon: the server's own
		// writes (a 100 Continue, a reply for a handler that sets none)
		// must not meet it.
		c.rwc.SetWriteDeadline(time.Time{})
		c.armedW = time.Time{}
	}
	req.RemoteAddr = c.remoteAddr
	req.TLS = c.tlsState
	w := newResponse(c, req, b)

	c.cr.beginRequest()
	if b == nil {
		c.cr.startBackgroundRead()
	} else {
		b.onEOF = c.cr.startBackgroundRead
		if b.expectContinue {
			b.onFirstRead = w.sendContinue
		}
	}

	if !c.runHandler(w, req) {
		// Panic: whatever was committed goes out, the rest is cut off so
		// the client sees a broken response rather than a short one. A
		// hijacked connection belongs to the handler's code: leave it.
		if !c.hijacked {
			c.cr.endRequest()
			c.bw.Flush()
			c.rwc.Close()
		}
		return abandon
	}
	if c.hijacked {
		return abandon
	}
	w.disableContinue()
	if !w.wroteHeader && ((b != nil && b.failed.Load()) || c.cr.failed()) {
		// The handler said nothing and the request cannot be whole: its
		// body failed, or the client went away. A malformed body gets the
		// codec's 400; anything else (a truncated body, a reset, a read
		// deadline) closes the connection without an answer — never the
		// default 200, which would tell the client its request succeeded.
		c.cr.endRequest()
		var re *RequestError
		if b != nil && errors.As(b.readErr(), &re) {
			c.reject(re)
			return abandon
		}
		c.rwc.Close()
		return abandon
	}
	w.finish()
	c.cr.endRequest()
	if w.closeAfter || c.cr.failed() || w.continuePending() || c.ctx.Err() != nil {
		// (A cancelled context is the connection's for good: a read of
		// the client failed. With a 100 Continue pending the client may
		// never send the body, so it is not drained.)
		return c.closeOutcome(b)
	}
	if b != nil {
		// The deadline bounds the drain, and a Read the handler leaked
		// past its return, which drainAndClose waits for.
		c.setReadDeadline(time.Now().Add(c.s.readHeaderTimeout()))
		ok := b.drainAndClose()
		c.setReadDeadline(time.Time{})
		if !ok {
			return lingerConn
		}
	}
	return keepAlive
}

// closeOutcome says how to close after a response: with a lingering close
// if client input is known to be unread (as net/http, which lingers only
// then), else at once.
func (c *conn) closeOutcome(b *body) outcome {
	if (b != nil && !b.eof.Load()) || c.br.Buffered() > 0 || c.cr.pendingByte() {
		return lingerConn
	}
	return closeConn
}

// runHandler calls the handler and reports whether it returned normally.
func (c *conn) runHandler(w *response, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				c.s.lg.Error("h1: panic serving request", "remote", c.remoteAddr,
					"panic", p, "stack", string(debug.Stack()))
			}
		}
	}()
	c.s.handler().ServeHTTP(w, req)
	return true
}

// reject answers a request the codec refused and closes the connection.
func (c *conn) reject(re *RequestError) {
	c.s.rejected(c, re)
	c.rwc.SetWriteDeadline(time.Now().Add(c.s.readHeaderTimeout()))
	if writeReject(c.bw, re) != nil {
		c.rwc.Close()
		return
	}
	c.lingerClose()
}

// lingerClose flushes, half-closes, discards what the client still sends
// for a bounded time, then closes (RFC 9112 §9.6).
func (c *conn) lingerClose() {
	if c.bw.Flush() == nil {
		if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			c.rwc.SetReadDeadline(time.Now().Add(lingerTimeout))
			io.CopyN(io.Discard, c.rwc, lingerBytes)
		}
	}
	c.rwc.Close()
}
