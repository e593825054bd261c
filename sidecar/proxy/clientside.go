package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/h1"
)

// clientSide bounds the time a request's client may hold the sidecar: each
// read of its body and each write of the answer gets a deadline of now +
// the request's inactivity bound, the shorter of
// limits.stream_idle_timeout and the upstream's `timeout`. A client that
// stops sending its body, or stops reading the answer, is cut off there,
// its concurrency slot and upstream connection released, and the attempt
// counts as the client's (docs/contract.md, "Limits"). Without it a
// stalled client held both forever and held a SIGTERM drain for the whole
// drain_timeout. (The request's whole `timeout` is its context's: the
// upstream side ends at it, and with it the answer being written.)
//
// Bytes moving either way extend both deadlines while the body is still
// being read (a full-duplex stream: the client is silent but reading), so
// a stream ends only when nothing moves for the bound. Once the body is
// done, only the write deadline is set: on HTTP/1.1 the connection's read
// side is then watched for the client going away.
//
// clientSide itself is the handler's, used on its goroutine (it lives on
// the handler's stack). The body's side, bodyReader, is shared with
// whoever reads the body and exists only for a request with one.
type clientSide struct {
	ctx    context.Context                                // the request's, with its timeout
	wd     interface{ SetWriteDeadline(time.Time) error } // nil: not supported
	bound  time.Duration                                  // zero: none
	armedW time.Time                                      // the write deadline set
	rd     interface{ SetReadDeadline(time.Time) error }  // nil: not supported
	reader *bodyReader                                    // nil: no body
	// clock, when set (the upstream times latency), times the body's reads:
	// the attempt's time spent waiting for the client (bodyWait).
	clock func() time.Time
	// tunnels: the routing listener's tunnel set, when one sent the request.
	tunnels *Tunnels
	// status is the status the client was sent (the answer's or a local
	// reply's), 0 while none was: what a routing listener counts.
	status int
	// For the access log: the last attempt's endpoint and the retries
	// before it, the local reply's code ("" for an upstream's answer), and
	// the answer's body bytes written to the client.
	endpoint string
	retries  int
	reply    string
	written  int64
}

// newClientSide bounds w's request, whose context is ctx, by timeout and
// idle (either may be 0: none).
func newClientSide(ctx context.Context, w http.ResponseWriter, timeout, idle time.Duration) clientSide {
	bound := idle
	if timeout > 0 && (bound == 0 || timeout < bound) {
		bound = timeout
	}
	cs := clientSide{ctx: ctx, bound: bound}
	cs.rd, _ = w.(interface{ SetReadDeadline(time.Time) error })
	cs.wd, _ = w.(interface{ SetWriteDeadline(time.Time) error })
	return cs
}

// next is the deadline for the next read or write.
func (cs *clientSide) next() time.Time { return time.Now().Add(cs.bound) }

// due reports whether a deadline set at armed must move to d: it is unset,
// d is earlier, or d is later by more than a sixteenth of the idle
// timeout. Each SetDeadline updates the runtime's timers, so a stream of
// writes moves its deadline now and then, not every time (an idle timeout
// may end a stream up to 1/16 of it early).
func due(armed, d time.Time, bound time.Duration) bool {
	return armed.IsZero() || d.Before(armed) || d.Sub(armed) > bound/16
}

// beforeWrite arms the write deadline for a write of the answer, and
// extends a body read still in progress.
func (cs *clientSide) beforeWrite() {
	if cs.bound <= 0 {
		return
	}
	d := cs.next()
	if cs.wd != nil && due(cs.armedW, d, cs.bound) {
		cs.wd.SetWriteDeadline(d)
		cs.armedW = d
	}
	if cs.reader != nil {
		cs.reader.extend(d)
	}
}

// end is called before the handler returns: from then on the body's side
// leaves the ResponseWriter alone (net/http's HTTP/2 client may go on
// reading the body after the handler returned, and the server's
// ResponseWriter is gone by then).
func (cs *clientSide) end() {
	if cs.reader != nil {
		cs.reader.mu.Lock()
		cs.reader.ended = true
		cs.reader.mu.Unlock()
	}
}

// body wraps the request's body: every read is bounded, and any failure
// to read it is the client's (*h1.RequestBodyError), whichever transport
// reads it.
func (cs *clientSide) body(r io.ReadCloser) io.ReadCloser {
	if r == nil || r == http.NoBody {
		return r
	}
	cs.reader = &bodyReader{ctx: cs.ctx, r: r, rd: cs.rd, bound: cs.bound, clock: cs.clock}
	return cs.reader
}

// bodyWait is how long reads of the request body have waited for the
// client so far; 0 without a body or a clock.
func (cs *clientSide) bodyWait() time.Duration {
	if cs.reader == nil {
		return 0
	}
	return time.Duration(cs.reader.waited.Load())
}

// bodyReader is the request body as the transport reads it. mu orders its
// use of the ResponseWriter (a read deadline) with the handler's end.
type bodyReader struct {
	ctx   context.Context
	r     io.ReadCloser
	rd    interface{ SetReadDeadline(time.Time) error } // nil: not supported
	bound time.Duration
	done  atomic.Bool  // the body ended (EOF or an error)
	read  atomic.Int64 // bytes read from the client, for the access log
	// clock times each read into waited (ns) when set: the time the
	// transport spent waiting for the client, which the latency rule must
	// not count against the endpoint. Reads may run on the transport's
	// goroutine, hence the atomic.
	clock  func() time.Time
	waited atomic.Int64

	mu     sync.Mutex
	ended  bool      // the handler returned
	armedR time.Time // the read deadline set
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.setRead(time.Now().Add(b.bound), false)
	live := b.ctx.Err() == nil
	var t0 time.Time
	if b.clock != nil {
		t0 = b.clock()
	}
	n, err := b.r.Read(p)
	if b.clock != nil {
		b.waited.Add(int64(b.clock().Sub(t0)))
	}
	b.read.Add(int64(n))
	if err == nil && live && b.ctx.Err() != nil {
		// The request's time ran out while the client was sending: the
		// client's doing, whatever fails next on the upstream side.
		err = b.ctx.Err()
	}
	switch {
	case err == io.EOF:
		b.done.Store(true)
		b.setRead(time.Time{}, true) // from now on the read side only watches for the client leaving
	case err != nil:
		b.done.Store(true)
		return n, &h1.RequestBodyError{Err: err}
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

// Ready passes on whether the client's body can be read without waiting
// (h1.ReadyReader), so the upstream side flushes only before a wait.
func (b *bodyReader) Ready() bool { r, ok := b.r.(h1.ReadyReader); return ok && r.Ready() }

// extend moves the read deadline on activity of the handler's (a write):
// a full-duplex stream is idle only when nothing moves either way.
func (b *bodyReader) extend(d time.Time) {
	if !b.done.Load() {
		b.setRead(d, false)
	}
}

// setRead sets the read deadline to d (lazily, see due), or clears it.
func (b *bodyReader) setRead(d time.Time, clear bool) {
	if b.rd == nil || b.bound <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.ended:
	case clear:
		b.rd.SetReadDeadline(time.Time{})
		b.armedR = time.Time{}
	case due(b.armedR, d, b.bound):
		b.rd.SetReadDeadline(d)
		b.armedR = d
	}
}

// errClientSlow ends an answer whose request ran out of time while the
// client was being written to: the client was too slow to take it.
var errClientSlow = errors.New("the request's timeout passed while writing to the client")

// wrote checks a write to the client that went through: if the request's
// time ran out during it, the rest of the answer is not worth reading from
// the endpoint (its connection is poisoned by then), and the attempt is
// the client's, not a timeout of the endpoint's.
func (cs *clientSide) wrote(live bool) error {
	if live && cs.ctx.Err() != nil {
		return errClientSlow
	}
	return nil
}
