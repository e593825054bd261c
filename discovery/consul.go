package discovery

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// HealthClient is the one Consul call the watch makes, narrowed from
// *api.Health so the loop's edge cases (an index going backwards, an index
// of 0, errors) can be tested with a scripted client.
type HealthClient interface {
	ServiceMultipleTags(service string, tags []string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error)
}

// ConsulOptions configure one upstream's watch.
type ConsulOptions struct {
	Service    string
	Tags       []string
	Datacenter string
	WaitTime   time.Duration // the blocking query's wait (consul.wait_time)
	AllowStale bool
	// IncludeWarning (health: passing_or_warning) asks for every instance,
	// not only passing ones, and delivers those whose checks warn with
	// Warning set; critical and maintenance ones are still left out.
	IncludeWarning bool
	// Seed is delivered when Consul cannot be reached before the first
	// result (the last known set from snapshot_file); nil for none.
	Seed []Instance
	// OnDeliver is called after each delivered set (to persist it); may be nil.
	OnDeliver func([]Instance)
	Logger    *slog.Logger
	Upstream  string // for log lines

	// Injectable for exact tests; zero values mean real time and randomness.
	Sleep func(ctx context.Context, d time.Duration) bool // false when ctx ended first
	Rand  func(n int64) int64                             // in [0, n)
	Now   func() time.Time
}

// Backoff and pacing of the watch loop.
const (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 10 * time.Second
	// minQueryInterval paces the loop when Consul answers at once over and
	// over (a churning service, or an index that keeps resetting), so one
	// sidecar never hammers it; Consul's docs ask clients to rate-limit.
	minQueryInterval = 100 * time.Millisecond
)

// Consul watches one service's passing instances with blocking queries on
// /v1/health/service/<service>?passing (without ?passing, and passing or
// warning instances, when IncludeWarning), following the rules of Consul's
// blocking-query docs and consul-template's watcher: skip an unchanged index, reset to 0 when
// it goes backwards, never wait on index 0 in a loop, drop identical
// results, back off with a cap and jitter on errors, and stay cancellable.
type Consul struct {
	client HealthClient
	opts   ConsulOptions
	pacing Pacing
}

var _ Source = (*Consul)(nil)

// NewConsul returns the watch of opts.Service through client.
func NewConsul(client HealthClient, opts ConsulOptions) *Consul {
	if opts.Sleep == nil {
		opts.Sleep = SleepCtx
	}
	if opts.Rand == nil {
		opts.Rand = rand.Int64N
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Consul{client: client, opts: opts, pacing: Pacing{
		WaitTime: opts.WaitTime, BackoffBase: backoffBase, BackoffCap: backoffCap, MinInterval: minQueryInterval,
		Sleep: opts.Sleep, Rand: opts.Rand, Now: opts.Now,
	}}
}

// Kind implements Source.
func (c *Consul) Kind() string { return "consul" }

// Run implements Source.
func (c *Consul) Run(ctx context.Context, update func([]Instance), onError func(error)) {
	var (
		index     uint64
		last      []Instance
		delivered bool
		failures  int
		log       = c.opts.Logger.With("upstream", c.opts.Upstream, "service", c.opts.Service)
	)
	deliver := func(set []Instance) {
		last, delivered = set, true
		update(slices.Clone(set))
		if c.opts.OnDeliver != nil {
			c.opts.OnDeliver(set)
		}
	}
	for ctx.Err() == nil {
		started := c.opts.Now()
		wait := c.pacing.JitteredWait()
		qctx, cancel := QueryContext(ctx, wait)
		q := (&api.QueryOptions{
			WaitIndex:  index,
			WaitTime:   wait,
			AllowStale: c.opts.AllowStale,
			Datacenter: c.opts.Datacenter,
		}).WithContext(qctx)
		entries, meta, err := c.client.ServiceMultipleTags(c.opts.Service, c.opts.Tags, !c.opts.IncludeWarning, q)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			// The agent that answers next may not share this index's
			// history (restarted, replaced, another server): waiting on the
			// old index could block for the whole wait_time. Re-read at 0;
			// an unchanged set is then dropped as identical.
			index = 0
			if onError != nil {
				onError(err)
			}
			if failures == 1 { // one line per state change, not per retry
				log.Warn("consul unreachable; keeping the last known endpoints", "error", err, "endpoints", len(last))
			}
			if !delivered && c.opts.Seed != nil {
				log.Info("serving the snapshot file's endpoints until consul answers", "endpoints", len(c.opts.Seed))
				deliver(slices.Clone(c.opts.Seed))
			}
			if !c.opts.Sleep(ctx, c.pacing.Backoff(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			log.Info("consul reachable again", "failed_attempts", failures)
			failures = 0
		}

		switch {
		case meta.LastIndex < index:
			// Snapshot restore, server change, KV delete: the index went
			// backwards. Start over; the result itself is still current.
			log.Info("consul index went backwards; resetting", "was", index, "now", meta.LastIndex)
			index = 0
		case meta.LastIndex == index && delivered:
			// The wait ended without a change: ask again at the same index.
			if !c.pacing.Pace(ctx, started) {
				return
			}
			continue
		default:
			index = meta.LastIndex
		}
		// An index below 1 would turn the next query into an immediate
		// answer, and the loop into a busy loop.
		if index < 1 {
			index = 1
		}

		set := instancesOf(entries, c.opts.IncludeWarning)
		if !delivered || !slices.Equal(set, last) {
			if delivered {
				log.Info("endpoints changed", "endpoints", len(set), "index", index)
			}
			deliver(set)
		}
		if !c.pacing.Pace(ctx, started) {
			return
		}
	}
}

// instancesOf converts Consul's entries, sorted by address so that the
// same set in another order compares equal. The address is Service.Address,
// or Node.Address when the service has none (docs/consul.md). The weight is
// Service.Weights.Passing, or .Warning for a warning instance (0 counts as
// 1, as Consul's own default is). Without includeWarning the query asked for
// passing instances only, so every entry is passing; with it, each entry's
// checks (its node's included) decide, and critical or maintenance ones are
// left out as ?passing leaves them out.
func instancesOf(entries []*api.ServiceEntry, includeWarning bool) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		warning := false
		if includeWarning {
			switch e.Checks.AggregatedStatus() {
			case api.HealthPassing:
			case api.HealthWarning:
				warning = true
			default: // critical, maintenance, or a status we do not know
				continue
			}
		}
		host := e.Service.Address
		if host == "" && e.Node != nil {
			host = e.Node.Address
		}
		weight := e.Service.Weights.Passing
		if warning {
			weight = e.Service.Weights.Warning
		}
		out = append(out, Instance{
			Address: net.JoinHostPort(host, strconv.Itoa(e.Service.Port)),
			ID:      e.Service.ID,
			Healthy: true,
			Weight:  max(weight, 1),
			Warning: warning,
		})
	}
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(strings.Compare(a.Address, b.Address), strings.Compare(a.ID, b.ID))
	})
	return out
}
