// Package upstream is the runtime side of one configured upstream: its
// current endpoint snapshot, the balancing policy, and the counters the
// admin API and metrics read. Discovery publishes new snapshots with Update;
// requests read them through Begin, lock-free: an immutable snapshot
// swapped atomically, per-endpoint counters carried over by address.
package upstream

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
)

// Member is one endpoint as a snapshot sees it.
type Member struct {
	Endpoint *balancer.Endpoint
	// Weight is discovery's relative share for the endpoint (Consul's
	// Service.Weights; 1 without), before any slow-start ramp.
	Weight int
	// Healthy is the discovery source's verdict.
	Healthy bool
	// Warning: the endpoint's Consul checks warn (health:
	// passing_or_warning); it is picked only while no passing one is left.
	Warning bool

	// rampEnd is when the slow-start ramp ends, Unix ns; 0 when not
	// ramping (an int64, not a time.Time: members are copied on every
	// snapshot, 1,000s of them for a big service).
	rampEnd int64
	t       *tracked // the endpoint's ramp state; nil only in hand-built Members
}

// SlowStartUntil is when the endpoint's slow-start ramp ends; the zero
// Time when it is not ramping.
func (m *Member) SlowStartUntil() time.Time {
	if m.rampEnd == 0 {
		return time.Time{}
	}
	return time.Unix(0, m.rampEnd).UTC()
}

// Snapshot is an immutable view of an upstream's endpoints. A new one is
// built for every change and swapped in whole.
type Snapshot struct {
	// Members lists every endpoint discovery reported, in its order.
	Members []Member
	// Pickable are the endpoints a request may go to: healthy per
	// discovery, not ejected by the outlier detector, and passing — or,
	// with health: passing_or_warning and no passing one left, warning.
	Pickable []*balancer.Endpoint
	// Set is Pickable as the policy picks from it, with the endpoints'
	// weights when they differ (Consul weights, slow start).
	Set balancer.Set
	// Updated is when discovery last delivered a set.
	Updated time.Time
}

// Options are the injectable parts of an Upstream; zero values mean the
// real clock and randomness.
type Options struct {
	Now           func() time.Time
	Rand          balancer.Rand
	DiscoveryKind string // "static" or "consul"
	Logger        *slog.Logger
}

// Upstream is one upstream's runtime state. Admit, Begin, Attempt.End and
// Attempt.Retry are called from request goroutines concurrently and never
// block; Update is called by the upstream's discovery goroutine; readers
// (admin, metrics) call Snapshot.
type Upstream struct {
	cfg    config.Upstream
	policy balancer.Policy
	now    func() time.Time
	kind   string
	stats  Stats
	log    *slog.Logger

	detector *outlier.Detector
	breaker  *breaker.Breaker
	budget   *retry.Budget
	retries  retry.Policy
	refusals refusals
	// maxRequests is circuit_breaker.max_requests, the concurrency cap.
	maxRequests int64

	snap   atomic.Pointer[Snapshot] // nil until the first discovery result
	listen atomic.Pointer[string]   // the bound listener address

	mu        sync.Mutex // serialises Update; never taken on the request path
	byAddr    map[string]*tracked
	gen       uint64
	onRemoved func(address string) // see OnRemoved
	ramping   bool                 // some member is in its slow-start window: Reweigh has work
	fallback  bool                 // serving warning endpoints (health: passing_or_warning)
}

// tracked is an endpoint with the generation of the update that last
// reported it, so Update can find departed endpoints without allocating.
type tracked struct {
	ep   *balancer.Endpoint
	seen uint64
	ramp rampState
}

// New builds the runtime for cfg; cfg must be valid.
func New(cfg config.Upstream, opts Options) (*Upstream, error) {
	policy, err := balancer.New(cfg.LB, opts.Rand)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Upstream{
		cfg:      cfg,
		policy:   policy,
		now:      now,
		kind:     opts.DiscoveryKind,
		stats:    newStats(),
		log:      log,
		byAddr:   make(map[string]*tracked),
		detector: outlier.NewDetector(cfg.Outlier, outlier.Options{Now: now, Logger: log, Upstream: cfg.Name}),
		breaker:  breaker.New(cfg.Name, cfg.CircuitBreaker, log),
		budget:   retry.NewBudget(cfg.Retries.BudgetPercent, cfg.Retries.MinPerSecond, now),
		retries:  retry.NewPolicy(cfg.Retries),
		refusals: newRefusals(cfg.Name),

		maxRequests: int64(cfg.CircuitBreaker.MaxRequests),
	}, nil
}

// OnRemoved registers f to be called (from Update) with the address of
// every endpoint that leaves the set, so its pooled connections can be
// closed rather than left open for good.
func (u *Upstream) OnRemoved(f func(address string)) {
	u.mu.Lock()
	u.onRemoved = f
	u.mu.Unlock()
}

// Breaker is the upstream's circuit breaker.
func (u *Upstream) Breaker() *breaker.Breaker { return u.breaker }

// RetryBudget caps the upstream's retries.
func (u *Upstream) RetryBudget() *retry.Budget { return u.budget }

// RetryPolicy is the upstream's parsed `retries`.
func (u *Upstream) RetryPolicy() *retry.Policy { return &u.retries }

// Name is the upstream's configured name.
func (u *Upstream) Name() string { return u.cfg.Name }

// Config is the configuration the upstream was built from.
func (u *Upstream) Config() config.Upstream { return u.cfg }

// DiscoveryKind names the source of endpoints ("static", "consul").
func (u *Upstream) DiscoveryKind() string { return u.kind }

// ListenAddr is the address the upstream's listener is bound to (the
// configured one, with the real port when it was 0), "" before binding.
func (u *Upstream) ListenAddr() string {
	if p := u.listen.Load(); p != nil {
		return *p
	}
	return ""
}

// SetListenAddr records the bound listener address.
func (u *Upstream) SetListenAddr(addr string) { u.listen.Store(&addr) }

// Stats are the upstream's counters.
func (u *Upstream) Stats() *Stats { return &u.stats }

// Snapshot is the current endpoint view, nil before the first update.
func (u *Upstream) Snapshot() *Snapshot { return u.snap.Load() }

// Ready reports whether discovery has delivered a first set.
func (u *Upstream) Ready() bool { return u.snap.Load() != nil }

// Update publishes a complete instance set from discovery. Endpoints whose
// address stays keep their state object (active count, latency, counters);
// only new addresses get a new one.
func (u *Upstream) Update(instances []discovery.Instance) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	members := make([]Member, 0, len(instances))
	hosts := make([]*outlier.Host, 0, len(instances))
	for _, in := range instances {
		t := u.byAddr[in.Address]
		if t == nil {
			t = &tracked{ep: balancer.NewEndpoint(in.Address, in.ID)}
			u.byAddr[in.Address] = t
		} else if t.seen == u.gen {
			continue // the same address twice in one set: count it once
		} else {
			t.ep.SetID(in.ID)
		}
		t.seen = u.gen
		members = append(members, Member{Endpoint: t.ep, Healthy: in.Healthy, Weight: max(in.Weight, 1), Warning: in.Warning, t: t})
		if in.Healthy {
			hosts = append(hosts, &t.ep.Outlier)
		}
	}
	for addr, t := range u.byAddr {
		if t.seen != u.gen {
			delete(u.byAddr, addr)
			if u.onRemoved != nil {
				u.onRemoved(addr)
			}
		}
	}
	// The detector first: a smaller set may return ejected hosts early.
	u.detector.SetHosts(hosts)
	now := u.now()
	u.publishLocked(members, now)
	u.stats.discoveryUpdates.Add(1)
}

// publishLocked swaps in a snapshot of members (which it owns and
// annotates with their slow-start state) whose pickable endpoints are the
// healthy, non-ejected, passing ones — or the warning ones when none is
// passing and health is passing_or_warning — with their weights. u.mu is
// held.
func (u *Upstream) publishLocked(members []Member, updated time.Time) {
	now := u.now()
	u.rampLocked(members, now, u.snap.Load() == nil)
	var passing, warning int
	for _, m := range members {
		if m.Healthy && !m.Endpoint.Outlier.Ejected() {
			if m.Warning {
				warning++
			} else {
				passing++
			}
		}
	}
	useWarning := passing == 0 && warning > 0 && u.cfg.Health == config.HealthPassingOrWarning
	u.noteFallbackLocked(useWarning, passing, warning)
	eps := make([]*balancer.Endpoint, 0, max(passing, warning))
	for i := range members {
		if pickable(&members[i], useWarning) {
			eps = append(eps, members[i].Endpoint)
		}
	}
	set := balancer.NewSet(eps, u.weightsLocked(members, useWarning, now))
	u.snap.Store(&Snapshot{Members: members, Pickable: eps, Set: set, Updated: updated})
}

// republish rebuilds the snapshot after ejection state changed. Off the
// request path except for the one request whose outcome ejected a host.
func (u *Upstream) republish() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.snap.Load(); s != nil {
		u.publishLocked(slices.Clone(s.Members), s.Updated)
	}
}

// SweepInterval is how often Sweep should run; 0 when outlier detection
// is off.
func (u *Upstream) SweepInterval() time.Duration {
	if !u.detector.Enabled() {
		return 0
	}
	return u.cfg.Outlier.Interval
}

// Sweep runs the outlier detector's periodic work (returns, failure
// percentage, decay) and republishes the snapshot when it changed
// anything. Called from the upstream's sweep ticker.
func (u *Upstream) Sweep() {
	if u.detector.Sweep() {
		u.republish()
	}
}

// LastUpdate is when discovery last delivered a set (zero before the
// first); the snapshot records it.
func (u *Upstream) LastUpdate() time.Time {
	if s := u.snap.Load(); s != nil {
		return s.Updated
	}
	return time.Time{}
}

// DiscoveryError counts a failed discovery attempt; the snapshot stays.
func (u *Upstream) DiscoveryError() { u.stats.discoveryErrors.Add(1) }

// pick chooses an endpoint from the current snapshot, or reports that
// there is none. It reads one atomic pointer and allocates nothing.
func (u *Upstream) pick(key string, avoid *balancer.Endpoint) (*balancer.Endpoint, bool) {
	s := u.snap.Load()
	if s == nil || len(s.Pickable) == 0 {
		return nil, false
	}
	e := u.policy.Pick(&s.Set, key)
	if e == avoid && len(s.Pickable) > 1 {
		e = leastActiveExcept(s.Pickable, avoid)
	}
	return e, true
}

// leastActiveExcept is the retry fallback when the policy picked the
// endpoint to avoid: the least busy of the others.
func leastActiveExcept(eps []*balancer.Endpoint, avoid *balancer.Endpoint) *balancer.Endpoint {
	var best *balancer.Endpoint
	for _, e := range eps {
		if e != avoid && (best == nil || e.Active() < best.Active()) {
			best = e
		}
	}
	return best
}
