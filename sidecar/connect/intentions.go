package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

// verdicts is the intentions verdict for calls to Options.Service: an
// immutable snapshot, swapped whole on every change.
type verdicts struct {
	// exact is the verdict of each source named by an intention that comes
	// before any wildcard-source one in precedence order.
	exact map[string]bool
	// fallback is every other source's: the first wildcard-source
	// intention's, or without one the default (the ACL default policy).
	fallback bool
	// fromIntention says that fallback came from a wildcard intention.
	fromIntention bool
}

func (v *verdicts) equal(o *verdicts) bool {
	return o != nil && v.fallback == o.fallback && v.fromIntention == o.fromIntention && maps.Equal(v.exact, o.exact)
}

// Allowed is the current intentions verdict for source calling
// Options.Service; it never blocks or does I/O. Before the first
// intentions are known every source is refused.
func (m *Manager) Allowed(source string) bool {
	v := m.verdicts.Load()
	if v == nil {
		return false
	}
	if allow, ok := v.exact[source]; ok {
		return allow
	}
	return v.fallback
}

// CountDenied counts one denied connection or request from source.
func (m *Manager) CountDenied(source string) {
	if c, ok := m.denied.Load(source); ok {
		c.(*atomic.Uint64).Add(1)
		return
	}
	c, _ := m.denied.LoadOrStore(source, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

// EachDenied reports the denied counts, by source in sorted order (for
// outrigger_connect_denied_total{source}).
func (m *Manager) EachDenied(fn func(source string, n uint64)) {
	type count struct {
		source string
		n      uint64
	}
	var all []count
	m.denied.Range(func(k, v any) bool {
		all = append(all, count{k.(string), v.(*atomic.Uint64).Load()})
		return true
	})
	slices.SortFunc(all, func(a, b count) int { return strings.Compare(a.source, b.source) })
	for _, c := range all {
		fn(c.source, c.n)
	}
}

// probeSource is the source service of the default-policy probe: a name
// no intention names, so that the agent answers with the default.
const probeSource = "outrigger-default-probe"

// Probe pacing: the agent's authorize endpoint reads its own intentions
// cache, which may not yet have the change this watch has just seen; an
// answer from an intention when the list has none that can match the probe
// is such a stale answer, asked again a few times.
const (
	probeRetries  = 10
	probeInterval = 100 * time.Millisecond
)

// intentionsQuery is the intentions watch's blocking query:
// /v1/connect/intentions/match?by=destination&name=<service>. A change to
// any intention answers it at once, so a verdict follows a write within
// one round trip and one authorize call.
func (m *Manager) intentionsQuery(ctx context.Context) query {
	args := &api.IntentionMatch{By: api.IntentionMatchDestination, Names: []string{m.opts.Service}}
	return func(q *api.QueryOptions) (*api.QueryMeta, func() error, error) {
		res, meta, err := m.intentions.IntentionMatch(args, q)
		if err != nil {
			return nil, nil, err
		}
		return meta, func() error { return m.setIntentions(ctx, res[m.opts.Service]) }, nil
	}
}

// setIntentions publishes the verdicts of the intentions for the service,
// ordered by precedence (highest first) as Consul returns them.
func (m *Manager) setIntentions(ctx context.Context, list []*api.Intention) error {
	v := verdictsOf(list)
	if !v.fromIntention {
		allow, err := m.probeDefault(ctx)
		if err != nil {
			return err
		}
		v.fallback = allow
	}
	old := m.verdicts.Load()
	if v.equal(old) {
		return nil
	}
	m.verdicts.Store(v)
	denied := 0
	for _, allow := range v.exact {
		if !allow {
			denied++
		}
	}
	m.log.Info("connect intentions changed", "named_sources", len(v.exact), "named_denied", denied,
		"others_allowed", v.fallback, "others_by_intention", v.fromIntention)
	if old == nil {
		m.mu.Lock()
		m.maybeReadyLocked()
		m.mu.Unlock()
	}
	return nil
}

// verdictsOf reads the precedence-ordered intentions of the destination:
// a source's verdict is that of the first intention whose SourceName is it
// or "*". Its fallback is left to the caller unless a wildcard decides.
func verdictsOf(list []*api.Intention) *verdicts {
	v := &verdicts{exact: map[string]bool{}}
	for _, ixn := range list {
		if ixn == nil || !localSource(ixn) {
			continue
		}
		// This sidecar applies L4 verdicts: by source, per connection and
		// per request. An L7 intention (Permissions, no Action) would need
		// the request's path, method and headers matched against its
		// permissions; it counts as deny, which is also what the agent's
		// own /v1/agent/connect/authorize answers for one.
		allow := ixn.Action == api.IntentionActionAllow && len(ixn.Permissions) == 0
		if ixn.SourceName == "*" {
			v.fallback, v.fromIntention = allow, true
			return v // every later intention is shadowed for every source
		}
		if _, seen := v.exact[ixn.SourceName]; !seen {
			v.exact[ixn.SourceName] = allow
		}
	}
	return v
}

// localSource says whether an intention can match a caller that
// SourceService names: a service of this cluster (not a peer's or a
// sameness group's) in the default namespace and partition.
func localSource(ixn *api.Intention) bool {
	if ixn.SourcePeer != "" || ixn.SourceSamenessGroup != "" {
		return false
	}
	if ixn.SourcePartition != "" && ixn.SourcePartition != "default" {
		return false
	}
	switch ixn.SourceNS {
	case "", api.IntentionDefaultNamespace, "*":
		return true
	}
	return false
}

// probeDefault asks the agent what it decides for a source no intention
// names: the ACL default policy (allow on an agent without ACLs).
func (m *Manager) probeDefault(ctx context.Context) (bool, error) {
	// The probe's SPIFFE ID is that of this trust domain and datacenter,
	// known with the first leaf and roots.
	select {
	case <-m.identityKnown:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	id := m.ident.Load()
	p := &api.AgentAuthorizeParams{
		Target:        m.opts.Service,
		ClientCertURI: ServiceSpiffeID(id.TrustDomain, id.Datacenter, probeSource),
	}
	for attempt := 0; ; attempt++ {
		a, err := m.authorize(ctx, p)
		if err != nil {
			return false, err
		}
		// "Matched L4 intention: ..." rather than "Default behavior
		// configured by ACLs": the agent's cache still holds an intention
		// the list no longer has. Ask again shortly; past the retries,
		// take the answer (an intention this sidecar does not read, e.g.
		// one naming the probe, is then what decides).
		if !strings.HasPrefix(a.Reason, "Matched") {
			return a.Authorized, nil
		}
		if attempt == probeRetries {
			m.log.Warn("the agent's default-policy probe keeps matching an intention; using its answer",
				"reason", a.Reason, "authorized", a.Authorized)
			return a.Authorized, nil
		}
		if !m.opts.Sleep(ctx, probeInterval) {
			return false, ctx.Err()
		}
	}
}

// authorize is Agent.ConnectAuthorize made cancellable: the call takes no
// context, so a hung agent would otherwise hold Run past its ctx. On
// cancellation the call is left to finish on its own.
func (m *Manager) authorize(ctx context.Context, p *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
	type result struct {
		a   *api.AgentAuthorize
		err error
	}
	ch := make(chan result, 1)
	go func() {
		a, err := m.agent.ConnectAuthorize(p)
		ch <- result{a, err}
	}()
	// The call takes no context: a hung agent must not hold the
	// intentions watch (the call itself ends when the agent answers or
	// its connection breaks).
	t := time.NewTimer(authorizeTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err == nil && r.a == nil {
			r.err = errors.New("consul's authorize answer was empty")
		}
		return r.a, r.err
	case <-t.C:
		return nil, fmt.Errorf("consul's authorize endpoint did not answer within %s", authorizeTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// authorizeTimeout bounds one call to the agent's authorize endpoint, a
// local, non-blocking call.
const authorizeTimeout = 10 * time.Second
