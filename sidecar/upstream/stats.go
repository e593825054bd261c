package upstream

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// Stats are an upstream's request-level counters. The request path bumps
// them with atomics; the metrics collector and admin API read them.
type Stats struct {
	active       atomic.Int64
	localReplies [localreply.NumReasons]atomic.Uint64
	retries      atomic.Uint64

	discoveryUpdates atomic.Uint64
	discoveryErrors  atomic.Uint64

	Duration Histogram
}

func newStats() Stats {
	return Stats{Duration: newHistogram(DurationBuckets)}
}

// TryBeginRequest marks a client request in flight on the upstream unless
// max are in flight already (circuit_breaker.max_requests).
func (s *Stats) TryBeginRequest(max int64) bool {
	if n := s.active.Add(1); max > 0 && n > max {
		s.active.Add(-1)
		return false
	}
	return true
}

// EndRequest ends a request begun with TryBeginRequest and records how long
// the whole request (all tries) took.
func (s *Stats) EndRequest(d time.Duration) {
	s.active.Add(-1)
	s.Duration.Observe(d.Seconds())
}

// Active is the number of client requests in flight.
func (s *Stats) Active() int64 { return s.active.Load() }

// LocalReply counts one local reply.
func (s *Stats) LocalReply(r localreply.Reason) { s.localReplies[r].Add(1) }

// LocalReplies is the count of local replies with reason r.
func (s *Stats) LocalReplies(r localreply.Reason) uint64 { return s.localReplies[r].Load() }

// Retry counts one retry.
func (s *Stats) Retry() { s.retries.Add(1) }

// Retries is the number of retries made.
func (s *Stats) Retries() uint64 { return s.retries.Load() }

// DiscoveryUpdates is the number of sets discovery delivered.
func (s *Stats) DiscoveryUpdates() uint64 { return s.discoveryUpdates.Load() }

// DiscoveryErrors is the number of failed discovery attempts.
func (s *Stats) DiscoveryErrors() uint64 { return s.discoveryErrors.Load() }

// DurationBuckets are the request-duration histogram's upper bounds in
// seconds: fine below 10 ms, where a sidecar hop lives, coarse above.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram is a fixed-bucket histogram updated with atomics only, so the
// request path never takes the lock a registry's vector would.
type Histogram struct {
	bounds  []float64
	counts  []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sumBits atomic.Uint64
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Snapshot returns the count, the sum and the cumulative count per upper
// bound, as Prometheus wants them.
func (h *Histogram) Snapshot() (count uint64, sum float64, cumulative map[float64]uint64) {
	cumulative = make(map[float64]uint64, len(h.bounds))
	var running uint64
	for i, b := range h.bounds {
		running += h.counts[i].Load()
		cumulative[b] = running
	}
	// The count is the buckets' total, so it always equals the +Inf bucket
	// even while requests finish during the read.
	count = running + h.counts[len(h.bounds)].Load()
	return count, math.Float64frombits(h.sumBits.Load()), cumulative
}
