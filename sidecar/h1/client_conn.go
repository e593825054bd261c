package h1

import (
	"bufio"
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// upConn is one connection of the client to an endpoint. Every read and
// write goes through its Read and Write, which (re)arm the connection's
// deadline before the system call: the earlier of the request's own
// deadline and now + the stream idle timeout. A deadline set with
// SetDeadline covers both directions, so bytes moving either way keep the
// connection alive (limits.stream_idle_timeout: "no bytes in either
// direction").
//
// The request's context can end at any time on another goroutine
// (timeout, client gone): poison then sets a deadline in the past, and
// arm never overrides it. mu orders the two; it is uncontended except at
// that moment.
type upConn struct {
	net.Conn
	raw      syscall.RawConn // for the idle check; nil if unavailable
	br       *bufio.Reader
	bw       *bufio.Writer
	scratch  []byte // response head bytes, reused
	lastUsed time.Time

	idle time.Duration // limits.stream_idle_timeout; 0 = none

	mu       sync.Mutex
	fixed    time.Time // the current request's deadline; zero = none
	poisoned bool      // the current request's context ended
	armed    time.Time // the deadline set on the connection; zero = none

	// written and read count the bytes that crossed the socket, so a
	// failure can tell whether the request reached the upstream and
	// whether any of an answer came back.
	written, read int64
}

func newUpConn(nc net.Conn, idle time.Duration) *upConn {
	c := &upConn{Conn: nc, idle: idle}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br = bufio.NewReaderSize(c, bufSize)
	c.bw = bufio.NewWriterSize(c, bufSize)
	return c
}

// begin prepares the connection for one request under ctx. The returned
// stop ends the context watch; it reports false if the context already
// ended (then the connection must not be reused).
func (c *upConn) begin(ctx context.Context) (stop func() bool) {
	c.mu.Lock()
	c.fixed, _ = ctx.Deadline()
	c.poisoned = false
	c.armLocked(true)
	c.mu.Unlock()
	return context.AfterFunc(ctx, c.poison)
}

// poison makes every pending and later read or write fail at once.
func (c *upConn) poison() {
	c.mu.Lock()
	c.poisoned = true
	c.Conn.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// detach ends the request's hold on the connection's deadlines, for an
// upgraded connection (WebSocket, CONNECT tunnel) that outlives the
// request: only the idle timeout applies from now on.
func (c *upConn) detach() {
	c.mu.Lock()
	c.fixed = time.Time{}
	c.mu.Unlock()
}

// arm moves the connection's deadline to the earlier of the request's
// deadline and now + the idle timeout — lazily: only when that is earlier
// than the deadline set, or later by more than a sixteenth of the idle
// timeout, so a run of reads and writes costs a time.Now each and a
// deadline change now and then (each SetDeadline updates runtime timers).
// An idle timeout may thus end a connection up to 1/16 of it early.
func (c *upConn) arm() {
	if c.idle <= 0 && c.fixed.IsZero() {
		return
	}
	c.mu.Lock()
	c.armLocked(false)
	c.mu.Unlock()
}

func (c *upConn) armLocked(force bool) {
	if c.poisoned {
		return
	}
	d := c.fixed
	if c.idle > 0 {
		if idle := time.Now().Add(c.idle); d.IsZero() || idle.Before(d) {
			d = idle
		}
	}
	if force || d.Before(c.armed) || d.Sub(c.armed) > c.idle/16 || c.armed.IsZero() != d.IsZero() {
		c.Conn.SetDeadline(d)
		c.armed = d
	}
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
	if c.raw == nil {
		return true
	}
	return peekQuiet(c.raw)
}
