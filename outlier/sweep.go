package outlier

import (
	"cmp"
	"log/slog"
	"slices"
	"time"
)

// candidate is a host over the failure-percentage threshold at a Sweep.
type candidate struct {
	h                  *Host
	requests, failures uint64
}

func (c candidate) percent() float64 { return float64(c.failures) * 100 / float64(c.requests) }

// Sweep is called every cfg.Interval by the owner's ticker (tests call it
// with an injected clock). Under the mutex, in this order, it
//
//  1. returns the ejected hosts whose EjectedUntil has come;
//  2. ejects, worst first and within max_ejection_percent, the hosts whose
//     failure percentage over the interval reached failure_percentage on at
//     least failure_percentage_min_requests requests, and resets every
//     listed host's window;
//  3. takes one off the ejection count of every host that has been back for
//     base_ejection_time since it returned or last decayed.
//
// It reports whether any host's ejected state changed; the caller then
// rebuilds its balancing snapshot. A disabled or nil Detector does nothing.
func (d *Detector) Sweep() (changed bool) {
	if d == nil || !d.enabled {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	nowNs := now.UnixNano()

	for _, h := range d.hosts {
		if h.ejected.Load() && nowNs >= h.ejectedUntil.Load() {
			d.returnLocked(h, now, false)
			changed = true
		}
	}
	if d.sweepFailurePercentLocked(now) {
		changed = true
	}
	for _, h := range d.hosts {
		if !h.ejected.Load() && h.ejections.Load() > 0 && nowNs-h.lastChange.Load() >= int64(d.base) {
			h.ejections.Add(-1)
			h.lastChange.Store(nowNs)
		}
	}
	// The limit has room again: a host refused from now on starts a new
	// refusal run and is logged once more.
	if d.ejectedLocked() < MaxEjected(len(d.hosts), d.pct) {
		for _, h := range d.hosts {
			h.refused.Store(false)
		}
	}
	return changed
}

// sweepFailurePercentLocked evaluates and resets the interval's windows.
func (d *Detector) sweepFailurePercentLocked(now time.Time) (changed bool) {
	if d.fpPct <= 0 {
		return false // Record counts no windows then
	}
	d.cands = d.cands[:0]
	for _, h := range d.hosts {
		requests, failures := splitWindow(h.window.Swap(0))
		if h.ejected.Load() || requests < d.fpMin {
			continue
		}
		if float64(failures)*100 >= d.fpPct*float64(requests) {
			d.cands = append(d.cands, candidate{h, requests, failures})
		}
	}
	// When the limit lets only some go, the worst go first.
	slices.SortStableFunc(d.cands, func(a, b candidate) int {
		return cmp.Compare(b.percent(), a.percent())
	})
	for _, c := range d.cands {
		if d.ejectLocked(c.h, FailurePercentage, now,
			slog.Float64("failure_percentage", c.percent()), slog.Uint64("requests", c.requests)) {
			changed = true
		}
	}
	clear(d.cands) // drop the host pointers until the next Sweep
	return changed
}

// returnLocked puts h back into rotation with fresh counters. early means
// the ejection limit, not the clock, ended the ejection.
func (d *Detector) returnLocked(h *Host, now time.Time, early bool) {
	nowNs := now.UnixNano()
	h.ejected.Store(false)
	h.ejectedUntil.Store(0)
	h.lastChange.Store(nowNs)
	h.resetCounters()
	h.window.Store(0)
	attrs := []slog.Attr{
		slog.String("upstream", d.upstream), slog.String("endpoint", h.Address()),
		slog.Int64("ejections", h.ejections.Load()),
		slog.Duration("ejected_for", time.Duration(nowNs-h.ejectedAt.Load())),
	}
	if early {
		attrs = append(attrs, slog.String("cause", "max_ejection_percent"))
	}
	d.logAt(now, slog.LevelInfo, "outlier endpoint returned", attrs...)
}
