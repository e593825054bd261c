package h1

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connReader sits between the connection and its bufio.Reader. While a
// handler runs and the request body has been fully read, it keeps one
// background 1-byte Read pending on the connection (as net/http does) so a
// client that goes away cancels the request context; a byte that arrives
// instead (the next pipelined request) is kept and returned by the next Read.
//
// Read is called by whoever reads through the bufio.Reader (the connection's
// goroutine, or a body reader on a handler's goroutine); the other methods by
// the connection's goroutine or from a body's EOF hook. All state is guarded
// by mu; cond signals the end of a pending read.
type connReader struct {
	conn net.Conn

	mu        sync.Mutex
	cond      sync.Cond
	inRead    bool // a Read or background read is on the connection
	bgEnabled bool // background reads allowed (a handler is running)
	aborted   bool // abortPendingLocked expired the background read
	hasByte   bool
	byteBuf   [1]byte
	err       error              // error seen by the background read, returned next
	cancel    context.CancelFunc // the connection's context, which its requests share
	// watch arms the background read bgReadDelay after the body is read,
	// so the many requests that finish sooner never pay for it (a
	// goroutine, a read that parks, two deadline changes); see bgReadDelay.
	watch *time.Timer
	// deadlineTouched: the background read changed the read deadline
	// (conn.armIdle must set its own afresh).
	deadlineTouched atomic.Bool
}

// bgReadDelay is how long a request runs, its body read, before the
// connection is watched for the client going away. A proxied request that
// takes longer than this is cancelled within about this long of the client
// leaving; shorter ones finish first anyway. Arming the watch on every
// request costs a goroutine, a read that parks and two deadline changes;
// skipping it gained a few per cent of throughput in a loopback benchmark.
const bgReadDelay = 50 * time.Millisecond

func newConnReader(c net.Conn, cancel context.CancelFunc) *connReader {
	cr := &connReader{conn: c, cancel: cancel}
	cr.cond.L = &cr.mu
	cr.watch = time.AfterFunc(time.Hour, cr.startBackgroundReadNow)
	cr.watch.Stop()
	return cr
}

var aLongTimeAgo = time.Unix(1, 0)

func (cr *connReader) Read(p []byte) (int, error) {
	cr.mu.Lock()
	for cr.inRead {
		// Only reachable if a handler misuses the body; wait rather than
		// race on the connection.
		cr.cond.Wait()
	}
	if len(p) == 0 {
		cr.mu.Unlock()
		return 0, nil
	}
	if cr.hasByte {
		p[0] = cr.byteBuf[0]
		cr.hasByte = false
		cr.mu.Unlock()
		return 1, nil
	}
	if err := cr.err; err != nil {
		cr.mu.Unlock()
		return 0, err
	}
	cr.inRead = true
	cr.mu.Unlock()

	n, err := cr.conn.Read(p)

	cr.mu.Lock()
	cr.inRead = false
	if err != nil && cr.bgEnabled {
		// The client is gone or the body read failed while a request
		// runs: its context (the connection's: it serves nothing more)
		// ends. Not after Hijack, whose reads are the handler's own.
		cr.cancel()
	}
	cr.mu.Unlock()
	cr.cond.Broadcast()
	return n, err
}

// pendingByte reports whether a byte read in the background awaits.
func (cr *connReader) pendingByte() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.hasByte
}

// failed reports whether a background read saw the connection fail.
func (cr *connReader) failed() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.err != nil
}

// beginRequest allows background reads until endRequest; a background read
// that fails cancels the connection's context.
func (cr *connReader) beginRequest() {
	cr.mu.Lock()
	cr.bgEnabled = true
	cr.aborted = false
	cr.mu.Unlock()
}

// endRequest stops background reads and waits until none is pending. Only
// then may the caller set read deadlines on the connection.
func (cr *connReader) endRequest() {
	cr.watch.Stop()
	cr.mu.Lock()
	cr.bgEnabled = false
	cr.abortPendingLocked()
	cr.mu.Unlock()
}

// startBackgroundRead is called once the request body is fully read (or
// there is none): it arms the watch (bgReadDelay).
func (cr *connReader) startBackgroundRead() {
	cr.watch.Reset(bgReadDelay)
}

// startBackgroundReadNow starts the background read, unless the request
// has ended meanwhile (endRequest cleared bgEnabled under the mutex, so a
// late timer finds it off).
func (cr *connReader) startBackgroundReadNow() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.bgEnabled || cr.inRead || cr.hasByte || cr.err != nil {
		return
	}
	cr.inRead = true
	cr.conn.SetReadDeadline(time.Time{})
	cr.deadlineTouched.Store(true)
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	n, err := cr.conn.Read(cr.byteBuf[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() && cr.aborted {
		// Our own abortPendingLocked; nothing happened on the wire.
	} else if err != nil {
		cr.err = err
		cr.cancel()
	}
	cr.aborted = false
	cr.inRead = false
	cr.mu.Unlock()
	cr.cond.Broadcast()
}

func (cr *connReader) abortPendingLocked() {
	if !cr.inRead {
		return
	}
	cr.aborted = true
	cr.deadlineTouched.Store(true)
	cr.conn.SetReadDeadline(aLongTimeAgo)
	for cr.inRead {
		cr.cond.Wait()
	}
	cr.conn.SetReadDeadline(time.Time{})
}
