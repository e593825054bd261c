package retry

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// MaxReplayBody is the largest request body kept for a retry (Linkerd's
// limit). A larger body streams straight through and the request is not
// retried once any of it was sent.
const MaxReplayBody = 64 << 10

// Body is a request body prepared for one or more attempts.
type Body struct {
	buf        []byte       // the whole body when replayable
	replayable bool         // buf holds all of it
	stream     *sentTracker // the streamed body, when not replayable
	current    *attemptBody // the streamed body as the last attempt got it
	empty      bool         // no body at all
}

// Prepare reads a body of known length up to MaxReplayBody so it can be
// sent again; a larger or chunked body is streamed and tracked, so a retry
// after a connect failure is still possible when none of it was read.
// Reading the body happens only when retries are on (attempts > 0).
// body is the request's body and length its Content-Length (-1 unknown).
// It returns a value so a request without a body allocates nothing. A
// read error is the body's, returned as it is.
func Prepare(body io.ReadCloser, length int64, retries bool) (Body, error) {
	if body == nil || body == http.NoBody || length == 0 {
		return Body{empty: true, replayable: true}, nil
	}
	if retries && length > 0 && length <= MaxReplayBody {
		buf := make([]byte, length)
		if _, err := io.ReadFull(body, buf); err != nil {
			return Body{}, err
		}
		return Body{buf: buf, replayable: true}, nil
	}
	return Body{stream: &sentTracker{r: body}}, nil
}

// ForAttempt returns the body to send on the next attempt, or false when
// the body cannot be sent again (part of a streamed body was read).
func (b *Body) ForAttempt() (io.ReadCloser, bool) {
	switch {
	case b.empty:
		return http.NoBody, true
	case b.replayable:
		// A fresh reader per attempt: the transport may still be reading
		// the previous attempt's body on its own goroutine.
		return io.NopCloser(bytes.NewReader(b.buf)), true
	case b.stream.read.Load():
		return nil, false
	}
	b.current = &attemptBody{t: b.stream}
	return b.current, true
}

// Fence stops the last attempt's hold on a streamed body: a transport that
// still reads it (net/http's HTTP/2 client reads on its own goroutine, and
// may start after RoundTrip returned) gets an error instead of the
// client's bytes, so a retry can never race it for them. Call it before
// asking Untouched about a retry.
func (b *Body) Fence() {
	if b.current != nil {
		b.current.fence()
	}
}

// Replayable reports whether the whole body is held and can be sent again.
func (b *Body) Replayable() bool { return b.replayable }

// Untouched reports whether nothing of the body has been read yet.
func (b *Body) Untouched() bool { return b.replayable || !b.stream.read.Load() }

// sentTracker records whether any of a streamed body was read (sent).
type sentTracker struct {
	r    io.ReadCloser
	read atomic.Bool // set by a transport's goroutine
}

// attemptBody is a streamed body as one attempt's transport reads it. mu
// orders a Read's start with Fence (it is never held during the read
// itself): a Read that began before the fence marked the body read, so no
// retry follows; one that begins after it reads nothing.
type attemptBody struct {
	t      *sentTracker
	mu     sync.Mutex
	fenced bool
}

// errFenced is what a transport still reading a fenced body gets.
var errFenced = errors.New("retry: the request body belongs to a later attempt")

func (a *attemptBody) Read(p []byte) (int, error) {
	a.mu.Lock()
	if a.fenced {
		a.mu.Unlock()
		return 0, errFenced
	}
	a.t.read.Store(true)
	a.mu.Unlock()
	return a.t.r.Read(p)
}

func (a *attemptBody) fence() {
	a.mu.Lock()
	a.fenced = true
	a.mu.Unlock()
}

// Close does not close the inbound body: the server owns it. The transport
// closes request bodies when an attempt fails, which must not end the
// stream a retry would still send.
func (a *attemptBody) Close() error { return nil }

// Ready reports whether a Read returns without waiting on the client
// (h1.ReadyReader, passed on so the transport flushes only before a
// wait); a fenced body's does.
func (a *attemptBody) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fenced {
		return true
	}
	r, ok := a.t.r.(interface{ Ready() bool })
	return ok && r.Ready()
}
