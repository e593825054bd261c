package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutCtx is a request's context bounded by the upstream's `timeout`
// without a timer of its own: h1.Client makes the deadline its upstream
// connection's deadline (h1.CancelScoper) and watches only the request's
// own context (the client's connection) for cancellation, and the reads
// and writes on the client's side check Err, which reads the clock. A
// context.WithTimeout per request — a timer, a child registration, and an
// AfterFunc registration on top of it — cost more than the rest of the
// request's bookkeeping together.
//
// It is still a whole context: whoever asks for Done (net/http's HTTP/2
// client, a retry's backoff, per_try_timeout) gets a real WithDeadline
// context, made then; AfterFunc is that context's too. Err is consistent
// with Done: the deadline passed, or the parent ended.
type timeoutCtx struct {
	context.Context // the request's
	deadline        time.Time

	mu   sync.Mutex
	full atomic.Pointer[wholeCtx] // made by the first Done or AfterFunc
}

// wholeCtx is a timeoutCtx made whole: a real context with the deadline.
type wholeCtx struct {
	context.Context
	cancel context.CancelFunc
}

var _ interface {
	context.Context
	CancelScope() context.Context
	AfterFunc(func()) func() bool
} = (*timeoutCtx)(nil)

func withTimeout(parent context.Context, d time.Duration) *timeoutCtx {
	return &timeoutCtx{Context: parent, deadline: time.Now().Add(d)}
}

func (c *timeoutCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Err is the whole context's when it has ended (its Done may have closed
// for release, and Err must then agree), else the parent's, else the
// clock's: past the deadline it is DeadlineExceeded even if the whole
// context's timer has not fired yet (a read that failed at the deadline
// must find the request timed out, whoever looks first).
func (c *timeoutCtx) Err() error {
	if w := c.full.Load(); w != nil {
		if err := w.Err(); err != nil {
			return err
		}
	} else if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *timeoutCtx) Done() <-chan struct{} { return c.whole().Done() }

// AfterFunc makes context.AfterFunc(c, f) run f when the deadline passes
// or the parent ends, without a goroutine.
func (c *timeoutCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.whole(), f) }

// CancelScope is the context whose cancellation ends the request apart
// from its deadline (h1.CancelScoper).
func (c *timeoutCtx) CancelScope() context.Context { return c.Context }

func (c *timeoutCtx) whole() *wholeCtx {
	if w := c.full.Load(); w != nil {
		return w
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.full.Load()
	if w == nil {
		ctx, cancel := context.WithDeadline(c.Context, c.deadline)
		w = &wholeCtx{Context: ctx, cancel: cancel}
		c.full.Store(w)
	}
	return w
}

// release frees the timer of a context that was made whole; the request
// is over.
func (c *timeoutCtx) release() {
	if w := c.full.Load(); w != nil {
		w.cancel()
	}
}
