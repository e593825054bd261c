// Package connect is the sidecar's identity in Consul's service mesh
// (docs/connect.md): the leaf certificate of its service and the CA roots
// from the local agent, and the intentions that decide who may call it. All
// three are followed by blocking queries and published as immutable
// snapshots, so a handshake or a request reads them with an atomic load and
// never waits on Consul; while Consul is unreachable the last ones stay in
// force.
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery"
)

// Agent is the part of *api.Agent used here, narrowed so that the watch
// loops' edge cases can be tested with a scripted agent.
type Agent interface {
	// ConnectCALeaf's first argument is the service NAME: the agent's
	// /v1/agent/connect/ca/leaf/<service> issues for a name, registered or not.
	ConnectCALeaf(service string, q *api.QueryOptions) (*api.LeafCert, *api.QueryMeta, error)
	ConnectCARoots(q *api.QueryOptions) (*api.CARootList, *api.QueryMeta, error)
	ConnectAuthorize(p *api.AgentAuthorizeParams) (*api.AgentAuthorize, error)
}

// Intentions is the part of *api.Connect used here.
type Intentions interface {
	IntentionMatch(args *api.IntentionMatch, q *api.QueryOptions) (map[string][]*api.Intention, *api.QueryMeta, error)
}

var (
	_ Agent      = (*api.Agent)(nil)
	_ Intentions = (*api.Connect)(nil)
)

// Options configure a Manager.
type Options struct {
	Service  string           // service.name: whose leaf, whose intentions (destination); required
	WaitTime time.Duration    // blocking-query wait (consul.wait_time); 0 = Consul's default (5m)
	Logger   *slog.Logger     // nil = discard
	Now      func() time.Time // default time.Now; also the clock certificates are verified at

	// Injectable for exact tests; zero values mean real time and randomness.
	Sleep func(ctx context.Context, d time.Duration) bool // false when ctx ended first
	Rand  func(n int64) int64                             // in [0, n)
}

// Identity is the mesh identity in force: an immutable snapshot, replaced
// (never modified) on every leaf or roots change. Nothing in it may be
// mutated by a reader.
type Identity struct {
	Service, TrustDomain, Datacenter, SpiffeID string

	// Leaf is the leaf certificate with any intermediates Consul sent with
	// it (the cross-signed one after a CA rotation), Leaf parsed.
	Leaf     *tls.Certificate
	Serial   string // leaf serial as Consul shows it ("0d", "3a:7f:…")
	NotAfter time.Time

	Roots        *x509.CertPool // every root Consul lists, active or not
	RootCount    int
	ActiveRootID string
}

// Manager follows the leaf, the roots and the intentions of one service.
//
// Run is called once, from its own goroutine. Every other method may be
// called from any goroutine at any time (before Run, during it, after it
// returned) and never blocks: Identity, Allowed, the tls.Config callbacks
// and the deny counters read atomically published snapshots.
type Manager struct {
	agent      Agent
	intentions Intentions
	opts       Options
	log        *slog.Logger

	ident    atomic.Pointer[Identity] // nil until both leaf and roots are known
	verdicts atomic.Pointer[verdicts] // nil until the first intentions are known
	isReady  atomic.Bool

	ready         chan struct{} // closed when leaf, roots and intentions are known
	identityKnown chan struct{} // closed with the first Identity

	// mu guards the state the watches combine into an Identity; only the
	// watch goroutines take it, never a handshake or a request.
	mu    sync.Mutex
	leaf  *leafState
	roots *rootsState

	denied sync.Map // source service → *atomic.Uint64

	pacing discovery.Pacing
}

// New returns the Manager of opts.Service. Nothing is asked of Consul
// before Run.
func New(agent Agent, intentions Intentions, opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = discovery.SleepCtx
	}
	if opts.Rand == nil {
		opts.Rand = rand.Int64N
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		agent: agent, intentions: intentions, opts: opts,
		log:           log.With("service", opts.Service),
		ready:         make(chan struct{}),
		identityKnown: make(chan struct{}),
		pacing: discovery.Pacing{
			WaitTime: opts.WaitTime, BackoffBase: backoffBase, BackoffCap: backoffCap, MinInterval: minQueryInterval,
			Sleep: opts.Sleep, Rand: opts.Rand, Now: opts.Now,
		},
	}
}

// Run runs the leaf, roots and intentions watches until ctx ends, and
// returns when all three have stopped.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { m.watch(ctx, "leaf", m.leafQuery) })
	wg.Go(func() { m.watch(ctx, "roots", m.rootsQuery) })
	wg.Go(func() { m.watch(ctx, "intentions", m.intentionsQuery(ctx)) })
	wg.Wait()
}

// Ready is closed once the leaf, the roots and the first intentions are
// known. It stays closed: an unreachable Consul later keeps the last ones.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Identity is the identity in force; nil before Ready, never nil after.
func (m *Manager) Identity() *Identity {
	if !m.isReady.Load() {
		return nil
	}
	return m.ident.Load()
}

// publishIdentityLocked builds and publishes the Identity of the current
// leaf and roots (m.mu held).
func (m *Manager) publishIdentityLocked() {
	l, r := m.leaf, m.roots
	if l == nil || r == nil {
		return
	}
	first := m.ident.Load() == nil
	m.ident.Store(&Identity{
		Service: m.opts.Service, TrustDomain: r.trustDomain, Datacenter: l.id.datacenter, SpiffeID: l.spiffeID,
		Leaf: l.cert, Serial: l.serial, NotAfter: l.notAfter,
		Roots: r.pool, RootCount: r.count, ActiveRootID: r.activeID,
	})
	if first {
		close(m.identityKnown)
	}
	m.maybeReadyLocked()
}

// maybeReadyLocked closes Ready when everything is known (m.mu held).
func (m *Manager) maybeReadyLocked() {
	if m.isReady.Load() || m.ident.Load() == nil || m.verdicts.Load() == nil {
		return
	}
	m.isReady.Store(true)
	close(m.ready)
	m.log.Info("connect identity ready", "spiffe_id", m.ident.Load().SpiffeID)
}
