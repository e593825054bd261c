package outlier

import (
	"cmp"
	"log/slog"
	"slices"
	"time"
)

// Unmeasured is the latency to give Record for an attempt whose duration
// says nothing about how fast the endpoint answers: a WebSocket or CONNECT
// tunnel, a TCP connection, which end when the conversation does. The
// outcome still counts for every other rule.
const Unmeasured time.Duration = -1

// latencyFactor is the runtime latency_factor: 0 (off) for anything not
// above 1. With a factor of 1 or less, about half of any set is "slower
// than the median of the others", so the rule would keep ejecting healthy
// endpoints up to max_ejection_percent; config validation refuses it, and a
// Detector built in code treats it as off rather than churn.
func latencyFactor(f float64) float64 {
	if !(f > 1) { // also NaN
		return 0
	}
	return f
}

// TimesLatency reports whether Record uses the latency it is given (the
// detector is on with latency_factor), so that a caller can skip the clock
// reads that measure it otherwise.
func (d *Detector) TimesLatency() bool { return d != nil && d.enabled && d.latF > 0 }

// addLatency counts one answered attempt's latency in h's window. Two adds
// rather than one packed word: a sum of nanoseconds outgrows any packing
// within seconds. A Sweep swapping the two between a Record's adds leaves
// that one attempt's sum and count in neighbouring windows; the totals are
// never lost, and each window holds at least failure_percentage_min_requests
// answers before it is judged.
func (h *Host) addLatency(l time.Duration) {
	if l < 0 {
		return // Unmeasured
	}
	h.latSum.Add(uint64(l))
	h.latCount.Add(1)
}

// latSample is one host's latency window at a Sweep.
type latSample struct {
	h        *Host
	answered uint64 // >= 1
	sum      uint64 // ns
}

func (s latSample) mean() float64 { return float64(s.sum) / float64(s.answered) }

// latCandidate is a host whose mean is above factor × the others' median.
type latCandidate struct {
	latSample
	median float64 // ns
}

// ratio is how many times slower than the others c is; +Inf when the others
// took no measurable time at all (a mean above factor × 0 is any mean > 0).
func (c latCandidate) ratio() float64 { return c.mean() / c.median }

// ejectSlowLocked applies latency_factor to the samples Sweep took of the
// hosts in rotation that answered at least failure_percentage_min_requests
// times in the interval: each is compared with the median of the OTHER
// samples' means, so a slow host does not raise the yardstick it is measured
// against. With two samples each is compared with the other; since the
// factor is above 1, at most one of them can be a candidate. With fewer than
// two there is nothing to compare with. Candidates go slowest-relative-first,
// within max_ejection_percent.
func (d *Detector) ejectSlowLocked(now time.Time) (changed bool) {
	if len(d.lats) < 2 {
		return false
	}
	slices.SortStableFunc(d.lats, func(a, b latSample) int { return cmp.Compare(a.mean(), b.mean()) })
	d.slow = d.slow[:0]
	for i, s := range d.lats {
		if med := medianWithout(d.lats, i); s.mean() > d.latF*med {
			d.slow = append(d.slow, latCandidate{s, med})
		}
	}
	// When the limit lets only some go, the worst go first.
	slices.SortStableFunc(d.slow, func(a, b latCandidate) int { return cmp.Compare(b.ratio(), a.ratio()) })
	for _, c := range d.slow {
		if d.ejectLocked(c.h, Latency, now,
			slog.Float64("mean_ms", c.mean()/1e6), slog.Float64("median_ms", c.median/1e6),
			slog.Float64("factor", d.latF), slog.Uint64("requests", c.answered)) {
			changed = true
		}
	}
	clear(d.slow) // drop the host pointers until the next Sweep
	return changed
}

// medianWithout is the median of the means of s, sorted by mean, leaving
// out s[i]; len(s) >= 2. An even count takes the average of the middle two.
func medianWithout(s []latSample, i int) float64 {
	at := func(j int) float64 { // the j-th of the others
		if j >= i {
			j++
		}
		return s[j].mean()
	}
	m := len(s) - 1
	if m%2 == 1 {
		return at(m / 2)
	}
	return (at(m/2-1) + at(m/2)) / 2
}
