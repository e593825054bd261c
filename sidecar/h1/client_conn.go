package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// upConn is one connection of the client to an endpoint. Every read and
// write goes through its Read and Write, which keep the connection's
// deadline at now + the stream idle timeout (moved lazily, see arm). A
// deadline set with SetDeadline covers both directions, so bytes moving
// either way keep the connection alive (limits.stream_idle_timeout: "no
// bytes in either direction").
//
// The request's own deadline (`timeout`) is its context's: when the
// context ends — deadline or client gone — on another goroutine, poison
// sets a deadline in the past, and arm never overrides it. mu orders the
// two; it is uncontended except at that moment.
type upConn struct {
	net.Conn
	raw      syscall.RawConn // for the idle check; nil if unavailable
	br       *bufio.Reader
	bw       *bufio.Writer
	scratch  []byte // response head bytes, reused
	peek     peeker
	lastUsed time.Time

	idle time.Duration // limits.stream_idle_timeout; 0 = none
	// due is the current request's deadline (UnixNano; 0 = none), kept
	// by arm as the connection's deadline when it comes first. Set by
	// begin, on the goroutine that then does the request's reads and
	// writes.
	due      int64
	dueAt    time.Time // due as the context has it (setDeadlineAt)
	dueFirst bool      // due comes before the idle deadline (and, as now only grows, stays first)
	// The watch of the request's context (begin, endWatch): the server
	// connection's, or a context.AfterFunc's stop.
	watch     *connWatch
	stopWatch func() bool

	mu       sync.Mutex
	poisoned bool // the current request's context ended
	// armed is the deadline set on the connection (UnixNano; 0 = none;
	// armedUnknown: something else changed it, set it afresh), read
	// without mu so that most reads and writes take no lock.
	armed atomic.Int64

	// written and read count the bytes that crossed the socket, so a
	// failure can tell whether the request reached the upstream and
	// whether any of an answer came back.
	written, read int64
}

// armedUnknown marks the connection's deadline as not what arm set (a
// poison, the idle check's read deadline): the next arm sets it whatever
// the request needs, none included.
const armedUnknown = -1

func newUpConn(nc net.Conn, idle time.Duration) *upConn {
	c := &upConn{Conn: nc, idle: idle}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br = bufio.NewReaderSize(c, bufSize)
	c.bw = bufio.NewWriterSize(c, bufSize)
	return c
}

// begin prepares the connection for one request under ctx. The request's
// deadline (its `timeout`) becomes part of the connection's deadline
// rather than a timer of its own, and the connection is poisoned when the
// context is cancelled — through the server connection's watch when ctx
// carries one (connWatch), else by context.AfterFunc on ctx, or on its
// CancelScope when it has one (its deadline is then this connection
// deadline's job alone). endWatch ends the watch.
func (c *upConn) begin(ctx context.Context) {
	c.mu.Lock()
	if c.poisoned {
		c.poisoned = false
		c.armed.Store(armedUnknown) // the poison's deadline is in the past
	}
	c.mu.Unlock()
	c.due, c.dueAt, c.dueFirst = 0, time.Time{}, false
	if d, ok := ctx.Deadline(); ok {
		c.due, c.dueAt = d.UnixNano(), d
		// The request's deadline before the idle one now stays before it
		// (now only grows): arm then needs no clock read per read and
		// write. (With the defaults, timeout 30s against 5m, it always is.)
		c.dueFirst = c.idle <= 0 || c.due < time.Now().Add(c.idle).UnixNano()
	}
	c.arm()
	if s, ok := ctx.(CancelScoper); ok {
		ctx = s.CancelScope()
	}
	// The server's watch serves only a context that ends exactly when the
	// connection's does (the same Done): one with a cancellation of its
	// own (per_try_timeout's) is watched itself.
	if w := watchOf(ctx); w != nil && ctx.Done() == w.done && w.set(c) {
		c.watch = w
		return
	}
	c.stopWatch = context.AfterFunc(ctx, c.poison)
}

// endWatch ends begin's watch. It reports false if the context ended
// meanwhile (then the connection must not be reused: a poison may land
// on it yet).
func (c *upConn) endWatch() bool {
	switch {
	case c.watch != nil:
		w := c.watch
		c.watch = nil
		return w.clear(c)
	case c.stopWatch != nil:
		stop := c.stopWatch
		c.stopWatch = nil
		return stop()
	}
	return true
}

// CancelScoper is a context whose deadline the client enforces with the
// connection's own deadline: its CancelScope is the context to watch for
// cancellation alone (no timer for the deadline). A context that is not
// one is watched whole.
type CancelScoper interface {
	context.Context
	CancelScope() context.Context
}

// endRequestDeadline lifts the request's deadline from the connection (a
// tunnel outlives its request; the idle timeout stays).
func (c *upConn) endRequestDeadline() {
	c.due, c.dueAt, c.dueFirst = 0, time.Time{}, false
	c.setDeadline(0)
	c.arm()
}

// poison makes every pending and later read or write fail at once.
func (c *upConn) poison() {
	c.mu.Lock()
	c.poisoned = true
	c.Conn.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// arm keeps the connection's deadline at the request's deadline when that
// comes first, else at now + the idle timeout — lazily: then it moves only
// when it is unset, must come earlier, or is more than a sixteenth of the
// idle timeout behind, so a run of requests and reads costs a time.Now each
// and a deadline change now and then (each SetDeadline updates the
// runtime's timers). An idle timeout may thus end a connection up to 1/16
// of it early.
func (c *upConn) arm() {
	if c.dueFirst {
		if c.armed.Load() != c.due {
			c.setDeadlineAt(c.dueAt, c.due)
		}
		return
	}
	if c.idle <= 0 { // and no deadline: begin sets dueFirst for one
		if c.armed.Load() != 0 {
			c.setDeadline(0) // the last request's deadline
		}
		return
	}
	d := time.Now().Add(c.idle).UnixNano()
	if c.due != 0 && c.due < d {
		// The request's deadline now comes first, and stays first: it is
		// armed exactly, never lazily (a deadline armed for the last
		// request may be near).
		c.dueFirst = true
		c.arm()
		return
	}
	if a := c.armed.Load(); a != 0 && d >= a && d-a <= int64(c.idle/16) {
		return
	}
	c.setDeadline(d)
}

// setDeadline sets the connection's deadline to d (UnixNano; 0: none),
// unless the request was poisoned meanwhile.
func (c *upConn) setDeadline(d int64) {
	t := time.Time{}
	if d != 0 {
		t = time.Unix(0, d)
	}
	c.setDeadlineAt(t, d)
}

// setDeadlineAt is setDeadline with the time itself: the request's
// deadline as its context has it, monotonic reading included, so that a
// read failing at it finds the context's Err set (a wall-clock copy could
// end the read a moment before the context's own clock says so, and the
// failure would look like the endpoint's rather than the deadline's).
func (c *upConn) setDeadlineAt(t time.Time, d int64) {
	c.mu.Lock()
	if !c.poisoned {
		c.Conn.SetDeadline(t)
		c.armed.Store(d)
	}
	c.mu.Unlock()
}

func (c *upConn) Read(p []byte) (int, error) {
	c.arm()
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	c.arm()
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// quiet reports whether a pooled connection may carry a request: nothing
// is buffered, the upstream has not closed it and has sent nothing since
// its last answer. Bytes waiting on an idle connection are an answer to no
// request — taken as the next response they would reach another client
// (net/http: "unsolicited response on idle channel"; nginx closes a cached
// connection on any read event) — so such a connection is closed.
func (c *upConn) quiet() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return c.quietTLS(tc)
	}
	if c.raw == nil {
		return true
	}
	return peekQuiet(c.raw, &c.peek)
}

// quietTLS is quiet for a TLS connection. Stray bytes can be in three
// places, and each is looked at: in the socket (a peek, as for plaintext;
// a TLS 1.3 peer's session tickets come right after the handshake and are
// read with the first answer), in the TLS layer as part of a record it
// has begun to read (sockCounter follows the record framing), or as whole
// records it holds: a read with a deadline already passed returns their
// data, else times out without touching the socket — which leaves a
// tls.Conn usable (only a write timeout breaks it). The connection's own
// deadline is set afresh by the next request (armed reset).
func (c *upConn) quietTLS(tc *tls.Conn) bool {
	sc, _ := tc.NetConn().(*sockCounter)
	var before int64
	if sc != nil {
		if sc.partial.Load() || (sc.raw != nil && !peekQuiet(sc.raw, &c.peek)) {
			return false
		}
		before = sc.n.Load()
	}
	tc.SetReadDeadline(aLongTimeAgo)
	var b [1]byte
	n, err := tc.Read(b[:])
	c.armed.Store(armedUnknown) // the write deadline is the last request's
	tc.SetReadDeadline(time.Time{})
	if sc != nil && sc.n.Load() != before {
		return false
	}
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}
