package outlier

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// MaxEjected is how many of n endpoints may be ejected at once under
// max_ejection_percent pct: floor(n × pct / 100), but at least 1 when n >= 2
// (so small pools can eject at all, envoy#3263/#34796) and at most n-1 (the
// last endpoint in rotation is never ejected; a wholly failing upstream is
// the circuit breaker's job, envoy#26877). A single endpoint is never
// ejected (envoy#17504).
func MaxEjected(n int, pct float64) int {
	if n < 2 {
		return 0
	}
	// The same expression as config's warning, so both agree on rounding.
	m := int(math.Floor(pct * float64(n) / 100))
	return min(max(m, 1), n-1)
}

// ejectedLocked counts the listed hosts that are ejected.
func (d *Detector) ejectedLocked() int {
	c := 0
	for _, h := range d.hosts {
		if h.ejected.Load() {
			c++
		}
	}
	return c
}

// enforceLimitLocked returns ejected hosts early, soonest due first, while
// more are ejected than the current set allows.
func (d *Detector) enforceLimitLocked(now time.Time) {
	over := d.ejectedLocked() - MaxEjected(len(d.hosts), d.pct)
	if over <= 0 {
		return
	}
	var ejected []*Host
	for _, h := range d.hosts {
		if h.ejected.Load() {
			ejected = append(ejected, h)
		}
	}
	slices.SortStableFunc(ejected, func(a, b *Host) int {
		return cmp.Compare(a.ejectedUntil.Load(), b.ejectedUntil.Load())
	})
	for _, h := range ejected[:over] {
		d.returnLocked(h, now, true)
	}
}
