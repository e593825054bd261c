package upstream

import (
	"slices"
	"time"
)

// Slow start (docs/balancing.md): an endpoint that joins the set, becomes
// healthy again in discovery, goes from warning to passing, or returns from
// ejection weighs base × (0.1 + 0.9 × min(1, elapsed/slow_start)) until its
// window is over. Snapshots are immutable, so while any endpoint ramps the
// upstream rebuilds its snapshot in steps (Reweigh, from a ticker); a pick
// never reads the clock. The endpoints of the very first discovery result
// do not ramp: there is nothing to ramp against (Envoy does the same).

// Slow-start constants: the share an endpoint starts its window with, and
// how often the weights move while one ramps (reweighSteps times per window,
// but no more often than minReweigh).
const (
	rampFloor    = 0.1
	reweighSteps = 20
	minReweigh   = 50 * time.Millisecond
)

// rampState is one endpoint's slow-start bookkeeping, written only under
// the upstream's mutex (by publishLocked).
type rampState struct {
	ranked bool      // published at least once: rank holds its last state
	rank   int8      // rankOut, rankWarning or rankPassing at the last publish
	from   time.Time // start of the current window; zero when not ramping
}

// An endpoint's standing, worst to best: a rise starts a window.
const (
	rankOut     int8 = iota // unhealthy in discovery, or ejected
	rankWarning             // its Consul checks warn
	rankPassing
)

func rankOf(m *Member) int8 {
	switch {
	case !m.Healthy || m.Endpoint.Outlier.Ejected():
		return rankOut
	case m.Warning:
		return rankWarning
	}
	return rankPassing
}

// rampLocked starts and ends the members' windows as of now and notes each
// running one's end in rampEnd; first is true for the upstream's
// first snapshot. u.mu is held.
func (u *Upstream) rampLocked(members []Member, now time.Time, first bool) {
	window := u.cfg.SlowStart
	u.ramping = false
	for i := range members {
		m := &members[i]
		m.rampEnd = 0
		if m.t == nil || window <= 0 {
			continue
		}
		r, rs := rankOf(m), &m.t.ramp
		if (!rs.ranked && !first) || (rs.ranked && r > rs.rank) {
			rs.from = now // joined, healthy again, passing again, or back from ejection
		}
		rs.ranked, rs.rank = true, r
		if rs.from.IsZero() {
			continue
		}
		if end := rs.from.Add(window); now.Before(end) {
			m.rampEnd = end.UnixNano()
			u.ramping = true
		} else {
			rs.from = time.Time{}
		}
	}
}

// weightsLocked is the pickable members' weights as of now (discovery
// weight × slow-start factor), or nil when they are all equal — the common
// case, which then allocates nothing. u.mu is held.
func (u *Upstream) weightsLocked(members []Member, useWarning bool, now time.Time) []float64 {
	first, uniform, n := -1.0, true, 0
	for i := range members {
		if m := &members[i]; pickable(m, useWarning) {
			if w := u.weight(m, now); first < 0 {
				first = w
			} else if w != first {
				uniform = false
			}
			n++
		}
	}
	if uniform {
		return nil
	}
	weights := make([]float64, 0, n)
	for i := range members {
		if m := &members[i]; pickable(m, useWarning) {
			weights = append(weights, u.weight(m, now))
		}
	}
	return weights
}

// pickable is publishLocked's rule for one member.
func pickable(m *Member, useWarning bool) bool {
	return m.Healthy && !m.Endpoint.Outlier.Ejected() && m.Warning == useWarning
}

// weight is m's discovery weight scaled by its slow-start factor.
func (u *Upstream) weight(m *Member, now time.Time) float64 {
	w := float64(max(m.Weight, 1))
	if m.rampEnd == 0 {
		return w
	}
	frac := float64(now.Sub(m.t.ramp.from)) / float64(u.cfg.SlowStart)
	return w * (rampFloor + (1-rampFloor)*min(1, max(0, frac)))
}

// noteFallbackLocked logs when the upstream starts and stops serving
// warning endpoints (health: passing_or_warning), once each way. u.mu is
// held.
func (u *Upstream) noteFallbackLocked(useWarning bool, passing, warning int) {
	if useWarning == u.fallback {
		return
	}
	u.fallback = useWarning
	switch {
	case useWarning:
		u.log.Info("no passing endpoint left; sending to warning ones", "upstream", u.cfg.Name, "warning_endpoints", warning)
	case passing > 0:
		u.log.Info("passing endpoints back; warning ones out of rotation", "upstream", u.cfg.Name, "passing_endpoints", passing)
	default:
		u.log.Info("no warning endpoint left either", "upstream", u.cfg.Name)
	}
}

// ReweighInterval is how often Reweigh should run: slow_start/20, at
// least 50 ms; 0 when slow start is off.
func (u *Upstream) ReweighInterval() time.Duration {
	if u.cfg.SlowStart <= 0 {
		return 0
	}
	return max(u.cfg.SlowStart/reweighSteps, minReweigh)
}

// Reweigh republishes the snapshot with the slow-start weights as of now
// while any endpoint ramps (the last call after every window ended
// publishes the plain weights); otherwise it does nothing. Called from the
// upstream's reweigh ticker.
func (u *Upstream) Reweigh() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.ramping {
		return
	}
	if s := u.snap.Load(); s != nil {
		u.publishLocked(slices.Clone(s.Members), s.Updated)
	}
}
