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
//     least failure_percentage_min_requests requests;
//  3. ejects, slowest relative to the others first and within what the
//     limit still allows, the hosts whose mean latency over the interval was
//     above latency_factor × the median of the others' (latency.go), and
//     resets every listed host's windows;
//  4. takes one off the ejection count of every host that has been back for
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
	if d.sweepWindowsLocked(now) {
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

// sweepWindowsLocked takes and resets every listed host's interval windows
// in one pass, then judges them: failure_percentage first, latency_factor
// second, so when the limit is tight a failing host goes before a merely
// slow one. Only hosts in rotation over the interval are judged or serve as
// the latency yardstick.
func (d *Detector) sweepWindowsLocked(now time.Time) (changed bool) {
	if d.fpPct <= 0 && d.latF <= 0 {
		return false // Record counts no windows then
	}
	d.cands, d.lats = d.cands[:0], d.lats[:0]
	for _, h := range d.hosts {
		requests, failures := splitWindow(h.window.Swap(0))
		answered, sum := h.latCount.Swap(0), h.latSum.Swap(0)
		if h.ejected.Load() {
			continue
		}
		if d.fpPct > 0 && requests >= d.fpMin && float64(failures)*100 >= d.fpPct*float64(requests) {
			d.cands = append(d.cands, candidate{h, requests, failures})
		}
		if d.latF > 0 && answered >= d.fpMin {
			d.lats = append(d.lats, latSample{h, answered, sum})
		}
	}
	if d.ejectFailingLocked(now) {
		changed = true
	}
	if d.ejectSlowLocked(now) {
		changed = true
	}
	clear(d.lats) // drop the host pointers until the next Sweep
	return changed
}

// ejectFailingLocked ejects Sweep's failure-percentage candidates.
func (d *Detector) ejectFailingLocked(now time.Time) (changed bool) {
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
	h.resetWindows()
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
