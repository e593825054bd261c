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
	lastUsed time.Time

	idle time.Duration // limits.stream_idle_timeout; 0 = none

	mu       sync.Mutex
	poisoned bool // the current request's context ended
	// armed is the deadline set on the connection (UnixNano; 0 = none),
	// read without mu so that most reads and writes take no lock.
	armed atomic.Int64

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
	if c.poisoned {
		c.poisoned = false
		c.armed.Store(0) // the poison's deadline is in the past
	}
	c.mu.Unlock()
	c.arm()
	return context.AfterFunc(ctx, c.poison)
}

// poison makes every pending and later read or write fail at once.
func (c *upConn) poison() {
	c.mu.Lock()
	c.poisoned = true
	c.Conn.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// arm keeps the connection's deadline at now + the idle timeout —
// lazily: it moves only when it is unset or more than a sixteenth of the
// idle timeout behind, so a run of requests and reads costs a time.Now
// each and a deadline change now and then (each SetDeadline updates the
// runtime's timers). An idle timeout may thus end a connection up to 1/16
// of it early.
func (c *upConn) arm() {
	if c.idle <= 0 {
		return
	}
	d := time.Now().Add(c.idle).UnixNano()
	if a := c.armed.Load(); a != 0 && d-a <= int64(c.idle/16) {
		return
	}
	c.mu.Lock()
	if !c.poisoned {
		c.Conn.SetDeadline(time.Unix(0, d))
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
	return peekQuiet(c.raw)
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
		if sc.partial.Load() || (sc.raw != nil && !peekQuiet(sc.raw)) {
			return false
		}
		before = sc.n.Load()
	}
	tc.SetReadDeadline(aLongTimeAgo)
	var b [1]byte
	n, err := tc.Read(b[:])
	c.armed.Store(0)
	tc.SetReadDeadline(time.Time{})
	if sc != nil && sc.n.Load() != before {
		return false
	}
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}
