package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestCtx is a request's context: it ends when the request does
// (release), and is bounded by the upstream's `timeout` when there is one —
// without a timer or a registration of its own unless someone needs them.
// h1.Client makes the deadline its upstream connection's deadline
// (h1.CancelScoper) and watches only the connection's context for
// cancellation, and the reads and writes on the client's side check Err,
// which reads the clock. A context.WithTimeout per request — a timer, a
// child registration, and an AfterFunc registration on top of it — cost
// more than the rest of the request's bookkeeping together.
//
// It is still a whole context: whoever asks for Done or registers an
// AfterFunc (net/http's HTTP/2 client, a retry's backoff,
// per_try_timeout) gets a real context made then — WithDeadline, or
// WithCancel without a timeout — which release cancels when the request
// ends, so nothing registered on it outlives the request. Err agrees with
// Done.
type requestCtx struct {
	context.Context // the request's parent: the client connection's (with the span)
	deadline        time.Time
	hasDeadline     bool

	mu    sync.Mutex
	full  atomic.Pointer[wholeCtx] // made by the first Done or AfterFunc
	ended atomic.Bool              // release was called
}

// wholeCtx is a requestCtx made whole: a real context (with the deadline,
// if any).
type wholeCtx struct {
	context.Context
	cancel context.CancelFunc
}

var _ interface {
	context.Context
	CancelScope() context.Context
	AfterFunc(func()) func() bool
} = (*requestCtx)(nil)

// newRequestCtx returns the context of a request under parent, bounded by
// timeout (0: none). Call release when the request ends.
func newRequestCtx(parent context.Context, timeout time.Duration) *requestCtx {
	if timeout <= 0 {
		return &requestCtx{Context: parent}
	}
	return &requestCtx{Context: parent, deadline: time.Now().Add(timeout), hasDeadline: true}
}

func (c *requestCtx) Deadline() (time.Time, bool) { return c.deadline, c.hasDeadline }

// Err is the whole context's when it has ended (its Done may have closed
// for release, and Err must then agree), else the parent's, else the
// clock's: past the deadline it is DeadlineExceeded even if the whole
// context's timer has not fired yet (a read that failed at the deadline
// must find the request timed out, whoever looks first).
func (c *requestCtx) Err() error {
	if w := c.full.Load(); w != nil {
		if err := w.Err(); err != nil {
			return err
		}
	} else if err := c.Context.Err(); err != nil {
		return err
	} else if c.ended.Load() {
		return context.Canceled
	}
	if c.hasDeadline && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *requestCtx) Done() <-chan struct{} { return c.whole().Done() }

// AfterFunc makes context.AfterFunc(c, f) run f when the deadline passes,
// the parent ends or the request ends, without a goroutine.
func (c *requestCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.whole(), f) }

// CancelScope is the context whose cancellation ends the request apart
// from its deadline and its end (h1.CancelScoper: the upstream exchange
// is over before release).
func (c *requestCtx) CancelScope() context.Context { return c.Context }

func (c *requestCtx) whole() *wholeCtx {
	if w := c.full.Load(); w != nil {
		return w
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.full.Load()
	if w == nil {
		var ctx context.Context
		var cancel context.CancelFunc
		if c.hasDeadline {
			ctx, cancel = context.WithDeadline(c.Context, c.deadline)
		} else {
			ctx, cancel = context.WithCancel(c.Context)
		}
		w = &wholeCtx{Context: ctx, cancel: cancel}
		c.full.Store(w)
	}
	if c.ended.Load() {
		// Made (or looked at) after the request ended — net/http's HTTP/2
		// client may ask late: it is over already, and nothing
		// registered on it may outlive the request.
		w.cancel()
	}
	return w
}

// release ends the request's context: a whole one (its timer, and
// whatever was registered on it) now, one made later at once; Err
// reports Canceled from now on. (Lock-free: whole checks ended after
// storing, release after marking, so one of them cancels.)
func (c *requestCtx) release() {
	c.ended.Store(true)
	if w := c.full.Load(); w != nil {
		w.cancel()
	}
}
