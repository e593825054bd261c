package connect

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery"
)

// Backoff and pacing of the watch loops: discovery.Pacing, the timing
// discovery's own watch uses, with these values.
const (
	backoffBase = 250 * time.Millisecond
	// backoffCap is low: three small queries per sidecar, and an intention
	// written while Consul was unreachable applies at most this long after
	// it answers again.
	backoffCap = 5 * time.Second
	// minQueryInterval paces a loop that Consul answers at once over and
	// over. It never delays a change: a change made during the pause makes
	// the next blocking query return at once.
	minQueryInterval = 100 * time.Millisecond
)

// query is one blocking query of a watch: it asks Consul with q and returns
// the answer's metadata and a function that applies the answer. apply is
// called only for an answer with a new index; it drops an answer identical
// to the last one, and its error (an unusable answer, or a failed follow-up
// call) counts as a failed attempt.
type query func(q *api.QueryOptions) (meta *api.QueryMeta, apply func() error, err error)

// watch runs one blocking query until ctx ends, following Consul's
// blocking-query rules as discovery.Consul does: skip an unchanged index,
// reset to 0 when it goes backwards, never wait on index 0 in a loop, back
// off with a cap and jitter on errors (keeping the last applied state), and
// stay cancellable at every step.
func (m *Manager) watch(ctx context.Context, what string, do query) {
	var (
		index    uint64
		applied  bool
		failures int
		log      = m.log.With("watch", what)
	)
	// fail handles a failed attempt; false when ctx ended.
	fail := func(err error) bool {
		failures++
		// The agent that answers next may not share this index's history
		// (restarted, replaced): waiting on the old index could block for
		// the whole wait. Re-read at 0; an identical answer is dropped.
		index = 0
		if failures == 1 { // one line per state change, not per retry
			log.Warn("consul connect query failed; keeping the last known state", "error", err)
		}
		return m.opts.Sleep(ctx, m.pacing.Backoff(failures))
	}
	succeeded := func() {
		if failures > 0 {
			log.Info("consul connect query answered again", "failed_attempts", failures)
			failures = 0
		}
	}
	for ctx.Err() == nil {
		started := m.opts.Now()
		wait := m.pacing.JitteredWait()
		// A client-side bound on each query: an agent that hangs (stopped,
		// or a connection gone without a FIN) must not stall the watch
		// past the wait Consul itself would honour (plus its jitter).
		qctx, cancel := discovery.QueryContext(ctx, wait)
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(qctx)
		meta, apply, err := do(q)
		cancel()
		if err == nil && (meta == nil || apply == nil) {
			err = errors.New("consul's answer carried no query metadata")
		}
		if err != nil {
			if ctx.Err() != nil || !fail(err) {
				return
			}
			continue
		}
		switch {
		case meta.LastIndex < index:
			// Snapshot restore, server change: the index went backwards.
			// Start over; the answer itself is still current.
			log.Info("consul index went backwards; resetting", "was", index, "now", meta.LastIndex)
			index = 0
		case meta.LastIndex == index && applied:
			// The wait ended without a change: ask again at the same index.
			succeeded()
			if !m.pacing.Pace(ctx, started) {
				return
			}
			continue
		default:
			index = meta.LastIndex
		}
		// An index below 1 would turn the next query into an immediate
		// answer, and the loop into a busy loop.
		index = max(index, 1)
		if err := apply(); err != nil {
			if ctx.Err() != nil || !fail(err) {
				return
			}
			continue
		}
		applied = true
		succeeded()
		if !m.pacing.Pace(ctx, started) {
			return
		}
	}
}
