package outlier

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// defaultBaseEjectionTime stands in for a base_ejection_time <= 0, which
// config validation rejects for an enabled detector; it keeps a Detector
// built in code from ejecting hosts for no time at all.
const defaultBaseEjectionTime = 30 * time.Second

// Options are the runtime dependencies of a Detector.
type Options struct {
	Now      func() time.Time // nil = time.Now
	Logger   *slog.Logger     // nil = discard
	Upstream string           // name for log lines
}

// Detector applies one upstream's config.Outlier to its hosts.
//
// Concurrency: Record runs on the request path from any goroutine and is
// lock-free until a consecutive counter reaches its threshold. Sweep is
// called by the owner's ticker every cfg.Interval; SetHosts by the
// discovery loop. Sweep, SetHosts and the ejection step of Record are
// serialized by the detector's mutex and never block on anything else.
// The package starts no goroutines.
type Detector struct {
	enabled  bool
	max5xx   int64 // 0 disables
	maxLocal int64 // 0 disables
	fpPct    float64
	fpMin    uint64  // >= 1; also the latency rule's minimum volume
	latF     float64 // latency_factor; 0 disables (anything <= 1 does)
	base     time.Duration
	maxTime  time.Duration
	pct      float64
	now      func() time.Time
	log      *slog.Logger
	upstream string

	mu     sync.Mutex
	hosts  []*Host // in discovery order
	member map[*Host]struct{}
	cands  []candidate    // Sweep's scratch space
	lats   []latSample    // Sweep's scratch space for the latency rule
	slow   []latCandidate // ditto
}

// NewDetector builds the runtime detector for cfg, which is expected to
// have passed config validation. Out-of-range values are clamped rather
// than rejected: negative thresholds disable their rule, a base ejection
// time <= 0 becomes 30s, a max ejection time below the base becomes the base,
// max_ejection_percent is held within [0, 100], and a latency_factor <= 1
// (or NaN) turns the latency rule off.
func NewDetector(cfg config.Outlier, opts Options) *Detector {
	d := &Detector{
		enabled:  cfg.Enabled,
		max5xx:   int64(max(cfg.Consecutive5xx, 0)),
		maxLocal: int64(max(cfg.ConsecutiveLocalFailure, 0)),
		fpPct:    max(cfg.FailurePercentage, 0),
		fpMin:    uint64(max(cfg.FailurePercentageMinRequests, 1)),
		latF:     latencyFactor(cfg.LatencyFactor),
		base:     cfg.BaseEjectionTime,
		maxTime:  cfg.MaxEjectionTime,
		pct:      min(max(cfg.MaxEjectionPercent, 0), 100),
		now:      opts.Now,
		log:      opts.Logger,
		upstream: opts.Upstream,
	}
	if d.base <= 0 {
		d.base = defaultBaseEjectionTime
	}
	d.maxTime = max(d.maxTime, d.base)
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Enabled reports cfg.Enabled. A nil Detector is disabled.
func (d *Detector) Enabled() bool { return d != nil && d.enabled }

// SetHosts tells the detector the endpoints that discovery currently reports
// healthy: the base n of the max_ejection_percent rule. Call it on every
// discovery update, before building the balancing snapshot; it is not called
// concurrently with itself. Hosts no longer listed stop counting towards
// the ejected total, are never ejected and are not swept (they keep their
// own state, which applies again if they come back).
//
// If the new set is too small for the hosts still ejected in it (say the
// healthy one of two endpoints left discovery), the ones due back soonest
// return at once until the limit holds again, so the last endpoint in
// rotation is never an ejected one.
func (d *Detector) SetHosts(hosts []*Host) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	member := make(map[*Host]struct{}, len(hosts))
	list := make([]*Host, 0, len(hosts))
	for _, h := range hosts {
		if h == nil {
			continue
		}
		if _, dup := member[h]; dup {
			continue
		}
		member[h] = struct{}{}
		list = append(list, h)
		if _, was := d.member[h]; !was {
			// Drop windows counted while the host was out of the set.
			h.resetWindows()
		}
	}
	d.hosts, d.member = list, member
	if d.enabled {
		d.enforceLimitLocked(d.now())
	}
}

// Record counts one outcome for h, whose attempt took latency from sending
// to the end of the answer (negative: not a measure of the endpoint's
// speed, such as a tunnel's lifetime; see Unmeasured). It runs on the
// request path: atomics only, no lock and no allocation, except when this
// outcome makes a consecutive counter reach its threshold; then it takes
// the mutex and tries to eject h, subject to max_ejection_percent. It
// returns true when h's ejection state changed, and the caller then
// rebuilds its balancing snapshot without h. A disabled or nil Detector
// does nothing.
//
// latency counts only with latency_factor on, and only for answers
// (Success, Upstream5xx): a local failure's time is its timeout's or its
// connect error's, which the consecutive and percentage rules judge.
func (d *Detector) Record(h *Host, o Outcome, latency time.Duration) (changed bool) {
	if d == nil || !d.enabled || h == nil {
		return false
	}
	switch o {
	case Success:
		if d.fpPct > 0 {
			h.window.Add(windowRequest)
		}
		if d.latF > 0 {
			h.addLatency(latency)
		}
		// Load first: most successes find the runs at 0 already, and a load
		// does not take the cache line from the other cores.
		if h.cons5xx.Load() != 0 {
			h.cons5xx.Store(0)
		}
		if h.consLocal.Load() != 0 {
			h.consLocal.Store(0)
		}
	case Upstream5xx:
		if d.fpPct > 0 {
			h.window.Add(windowRequest | windowFailure)
		}
		if d.latF > 0 {
			h.addLatency(latency)
		}
		// The connection worked, so a local-failure run is over.
		if h.consLocal.Load() != 0 {
			h.consLocal.Store(0)
		}
		// == rather than >=: each count is returned by exactly one Add, so
		// exactly one goroutine per run goes for the lock.
		if d.max5xx > 0 && h.cons5xx.Add(1) == d.max5xx {
			return d.tryEject(h, Consecutive5xx, d.max5xx)
		}
	case LocalFailure:
		if d.fpPct > 0 {
			h.window.Add(windowRequest | windowFailure)
		}
		// No response, so nothing is known about the 5xx run: it stands.
		if d.maxLocal > 0 && h.consLocal.Add(1) == d.maxLocal {
			return d.tryEject(h, ConsecutiveLocalFailure, d.maxLocal)
		}
	}
	return false
}

// tryEject is Record's slow path: a consecutive counter of h reached n.
func (d *Detector) tryEject(h *Host, r Reason, n int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Whatever happens next, the next attempt needs a fresh run.
	h.resetCounters()
	return d.ejectLocked(h, r, d.now(), slog.Int64(r.String(), n))
}

// ejectLocked ejects h for r unless it is ejected already, not in the set,
// or the limit is reached. detail names the rule's counter and its value.
func (d *Detector) ejectLocked(h *Host, r Reason, now time.Time, detail ...slog.Attr) bool {
	if h.ejected.Load() {
		return false
	}
	if _, ok := d.member[h]; !ok {
		return false
	}
	if ejected, limit := d.ejectedLocked(), MaxEjected(len(d.hosts), d.pct); ejected >= limit {
		d.refuseLocked(h, r, now, ejected, limit)
		return false
	}
	n := h.ejections.Add(1)
	until := now.Add(d.ejectionTime(n))
	h.reason.Store(uint32(r))
	h.ejectedAt.Store(now.UnixNano())
	h.ejectedUntil.Store(until.UnixNano())
	h.refused.Store(false)
	h.total[r].Add(1)
	h.ejected.Store(true)

	attrs := make([]slog.Attr, 0, 6+len(detail))
	attrs = append(attrs, slog.String("upstream", d.upstream), slog.String("endpoint", h.Address()),
		slog.String("reason", r.String()))
	attrs = append(attrs, detail...)
	attrs = append(attrs, slog.Int64("ejections", n), slog.String("until", until.UTC().Format(time.RFC3339)))
	d.logAt(now, slog.LevelInfo, "outlier ejected endpoint", attrs...)
	return true
}

// refuseLocked logs a refused ejection once per host per refusal run: the
// flag clears when the host is ejected or a Sweep finds room again.
func (d *Detector) refuseLocked(h *Host, r Reason, now time.Time, ejected, limit int) {
	if h.refused.Swap(true) {
		return
	}
	d.logAt(now, slog.LevelDebug, "outlier ejection refused",
		slog.String("upstream", d.upstream), slog.String("endpoint", h.Address()),
		slog.String("reason", r.String()), slog.Int("ejected", ejected),
		slog.Int("max_ejected", limit), slog.Int("endpoints", len(d.hosts)))
}

// ejectionTime is base × n, capped at max_ejection_time.
func (d *Detector) ejectionTime(n int64) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > int64(d.maxTime/d.base) { // also guards base × n against overflow
		return d.maxTime
	}
	return d.base * time.Duration(n)
}

// logAt logs one event stamped with the detector's clock, so a line's time
// agrees with the times in it (until, ejected_for), also under a test clock.
func (d *Detector) logAt(now time.Time, level slog.Level, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	if !d.log.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(now, level, msg, 0)
	r.AddAttrs(attrs...)
	_ = d.log.Handler().Handle(ctx, r) // a failing log sink is not ours to handle
}
