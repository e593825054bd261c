package proxy

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// Slot is the http.Handler a listener's server calls. It forwards each
// request to the current Handler, which a reload replaces (Swap) without
// touching the server or its connections: a client's keep-alive
// connection carries on, its next request served by the new handler,
// while requests in flight finish on the old one. (Closing the idle
// connections of a server being replaced instead raced clients about to
// send on them: a valid reload cost requests.)
type Slot struct{ cur atomic.Pointer[Handler] }

// NewSlot returns a slot serving h.
func NewSlot(h *Handler) *Slot {
	s := &Slot{}
	s.cur.Store(h)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Slot) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

// Handler is the handler serving now.
func (s *Slot) Handler() *Handler { return s.cur.Load() }

// Swap makes h serve the next requests and returns the one it replaces.
func (s *Slot) Swap(h *Handler) *Handler { return s.cur.Swap(h) }

// retirePoll is how often Retire looks at the requests still running.
const retirePoll = 5 * time.Millisecond

// Retire waits until the requests a replaced handler is serving are done,
// tunnels included, or until ctx ends; then it closes the tunnels still
// open. It returns ctx's error if requests were cut.
func (h *Handler) Retire(ctx context.Context) error {
	t := time.NewTicker(retirePoll)
	defer t.Stop()
	var err error
	for h.inflight.Load() > 0 && err == nil {
		select {
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.CloseUpgraded(closeCtx)
	return err
}

// CountBadRequest counts a request the listener's codec refused itself
// (400 or 431 bad_request), as a local reply of the upstream serving now.
func (s *Slot) CountBadRequest(int) { s.cur.Load().up.Stats().LocalReply(localreply.BadRequest) }

// ServeVia serves a request a routing listener's route sent to this
// upstream, on the handler serving now.
func (s *Slot) ServeVia(w http.ResponseWriter, r *http.Request, via *Via) {
	s.cur.Load().ServeVia(w, r, via)
}
