package outlier

import (
	"sync/atomic"
	"time"
)

// Host is one endpoint's detector state. The endpoint's runtime object
// embeds it as a value, so it outlives balancing snapshots and its history
// (the ejection count above all) survives discovery updates.
//
// The zero value is ready once Init has set the address. A Host must not be
// copied after first use (go vet's copylocks check reports copies). Every
// method is safe for concurrent use: all fields are atomics. The request
// path bumps the counters without a lock; the ejection state is written only
// by a Detector under its mutex and read anywhere (the admin API, snapshot
// builders). A Host belongs to one Detector at a time.
type Host struct {
	_ noCopy

	address atomic.Pointer[string]

	// Bumped by Record, lock-free.
	cons5xx   atomic.Int64  // consecutive Upstream5xx
	consLocal atomic.Int64  // consecutive LocalFailure
	window    atomic.Uint64 // requests<<32 | failures since the last Sweep
	latCount  atomic.Uint64 // answered attempts since the last Sweep (latency_factor only)
	latSum    atomic.Uint64 // their latencies in ns (2^64 ns is 584 years)

	// Written by the Detector under its mutex.
	ejected      atomic.Bool
	reason       atomic.Uint32 // Reason of the current or last ejection
	ejections    atomic.Int64  // times ejected, after decay: the multiplier
	ejectedAt    atomic.Int64  // Unix ns of the current or last ejection
	ejectedUntil atomic.Int64  // Unix ns; 0 when not ejected
	lastChange   atomic.Int64  // Unix ns of the last return or decay
	refused      atomic.Bool   // a refused ejection was logged in this refusal run
	total        [NumReasons]atomic.Uint64
}

// noCopy makes go vet's copylocks check report copies of a Host.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// The window packs two counters into one word so that Record bumps both
// with one atomic add and Sweep reads both consistently with one swap.
// 2^32 requests to one endpoint in one interval is far beyond reach.
const (
	windowRequest = 1 << 32
	windowFailure = 1
)

func splitWindow(w uint64) (requests, failures uint64) {
	return w >> 32, w & (1<<32 - 1)
}

// Init sets the address used in log lines. Call it before the Host is shared.
func (h *Host) Init(address string) { h.address.Store(&address) }

// Address is the address given to Init ("" before).
func (h *Host) Address() string {
	if p := h.address.Load(); p != nil {
		return *p
	}
	return ""
}

// Ejected reports whether the host is currently ejected.
func (h *Host) Ejected() bool { return h.ejected.Load() }

// EjectedUntil is when the current ejection ends (the host comes back at
// the first Sweep at or after it); the zero Time when not ejected.
func (h *Host) EjectedUntil() time.Time {
	n := h.ejectedUntil.Load()
	if n == 0 || !h.ejected.Load() {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Reason is the reason of the current or, once returned, the last ejection;
// ReasonNone if the host was never ejected.
func (h *Host) Reason() Reason { return Reason(h.reason.Load()) }

// Ejections is the current ejection count: times ejected, less one for every
// base_ejection_time spent healthy since. The next ejection lasts
// base_ejection_time × (Ejections()+1), up to max_ejection_time.
func (h *Host) Ejections() int { return int(h.ejections.Load()) }

// EjectionsTotal is the number of times the host was ejected for reason r
// since it was created; it only grows (for outrigger_outlier_ejections_total).
func (h *Host) EjectionsTotal(r Reason) uint64 {
	if int(r) >= NumReasons {
		return 0
	}
	return h.total[r].Load()
}

// resetWindows drops whatever the interval windows counted so far.
func (h *Host) resetWindows() {
	h.window.Store(0)
	h.latCount.Store(0)
	h.latSum.Store(0)
}

// resetCounters starts a fresh run for the consecutive detectors.
func (h *Host) resetCounters() {
	h.cons5xx.Store(0)
	h.consLocal.Store(0)
}
