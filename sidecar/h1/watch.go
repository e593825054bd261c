package h1

import (
	"context"
	"sync"
)

// connWatch ends the upstream side of a request when its client goes away,
// without a registration per request: the server's connection has one
// (context.AfterFunc on its context, once), and a request's upstream
// connection puts itself in it for the exchange (set, then clear). A
// per-request context.AfterFunc — an allocation, a child registration and
// a closure — cost more than the rest of the client's bookkeeping.
//
// Reached through the request's context (Value(watchKey{})); any other
// context — a request from another server, a test — is watched with
// context.AfterFunc as before (upConn.begin).
type connWatch struct {
	done   <-chan struct{} // the server connection's context's
	mu     sync.Mutex
	fired  bool    // the connection's context ended
	target *upConn // the upstream connection of the request in flight
}

type watchKey struct{}

// fire poisons the upstream connection in flight, and any set later.
func (w *connWatch) fire() {
	w.mu.Lock()
	w.fired = true
	t := w.target
	w.mu.Unlock()
	if t != nil {
		t.poison()
	}
}

// set makes c the upstream connection to poison. It reports false when it
// cannot — another is set (a second exchange of one request at once, which
// the proxy does not do): the caller watches the context instead. If the
// context already ended, c is poisoned now (and clear reports it).
func (w *connWatch) set(c *upConn) bool {
	w.mu.Lock()
	switch {
	case w.fired:
		w.mu.Unlock()
		c.poison()
		return true
	case w.target != nil && w.target != c:
		w.mu.Unlock()
		return false
	}
	w.target = c
	w.mu.Unlock()
	return true
}

// clear ends the watch of c. It reports false if the context ended
// meanwhile (c may have been poisoned: it must not be reused).
func (w *connWatch) clear(c *upConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.target == c {
		w.target = nil
	}
	return !w.fired
}

// watchOf returns the server connection's watch a request context carries,
// or nil.
func watchOf(ctx context.Context) *connWatch {
	w, _ := ctx.Value(watchKey{}).(*connWatch)
	return w
}
