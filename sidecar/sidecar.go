// Package sidecar assembles a running Outrigger: one listener per upstream
// (and the inbound one), the discovery that feeds each, and the admin API;
// it applies reloads and drains on shutdown. The request path itself lives
// in the sub-packages: h1 parses, proxy forwards, upstream and balancer
// pick and account.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/admin"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/metrics"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// Sidecar is one running Outrigger process's worth of listeners.
type Sidecar struct {
	log      *slog.Logger
	tracing  *tracing.Tracing // nil when tracing is off
	admin    *http.Server
	adminLn  net.Listener
	probe    *http.Server // admin.probe_listen (probe.go); nil without it
	probeLn  net.Listener
	draining atomic.Bool

	cfg atomic.Pointer[config.Config]        // the effective config, for /config
	ups atomic.Pointer[[]*upstream.Upstream] // for /upstreams and /metrics
	lns atomic.Pointer[[]*router.Handler]    // the routing listeners, likewise

	// accessLog is every listener's access log; a reload swaps the
	// Logger inside it (accesslog.go).
	accessLog *accesslog.Sink

	mu       sync.Mutex        // serialises Reload and the shutdown
	routes   map[string]*route // by upstream name
	order    []string          // upstream names in config order
	lst      []*listener       // routing listeners in config order
	inbound  *route            // nil without inbound.listen
	retiring sync.WaitGroup    // routes a reload replaced, still draining
	failed   chan error        // a listener's serve error stops Run
	started  chan struct{}     // closed once Run has started every route and listener

	consulDeps *consulDeps // nil until an upstream needs Consul
	registrar  *registrar  // nil unless service.register

	mesh     *connect.Manager                // nil until the mesh is used (mesh.go); s.mu
	meshRef  atomic.Pointer[connect.Manager] // mesh, for the admin API and metrics
	stopMesh context.CancelFunc              // ends its watches, at the end of a drain
	meshDone sync.WaitGroup
}

// Options are what New needs besides the config.
type Options struct {
	Logger  *slog.Logger
	Version string // the resource's service.version in traces
	// Pprof serves Go's profiles under /debug/pprof/ on the admin API
	// (`outrigger run -pprof`); off by default.
	Pprof bool
}

// New builds the sidecar for a valid cfg and binds every listener, so that
// a port already in use fails here, before anything is served.
func New(cfg *config.Config, opts Options) (_ *Sidecar, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sidecar{log: log, routes: map[string]*route{}, failed: make(chan error, 1), started: make(chan struct{}),
		accessLog: accesslog.NewSink()}
	s.cfg.Store(cfg)
	defer func() {
		if err != nil {
			s.closePorts()
		}
	}()
	al, err := s.openAccessLog(cfg.AccessLog)
	if err != nil {
		return nil, err
	}
	s.accessLog.Swap(al)
	defer func() {
		if err != nil {
			s.accessLog.Close(context.Background())
		}
	}()
	s.tracing, err = tracing.Setup(context.Background(), cfg.Tracing, cfg.Service, tracing.Options{Version: opts.Version, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.Connect.Enabled {
		if _, err := s.meshManager(); err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
	}
	if cfg.Inbound.Listen != "" {
		if s.inbound, err = s.newRoute("inbound", inboundUpstream(cfg), true, nil); err != nil {
			return nil, err
		}
		if cfg.Connect.Enabled {
			s.inbound.srv = newMeshServer(s.inbound.srv, s.mesh.ServerTLS(nil), s.log)
		}
	}
	for i, uc := range cfg.Upstreams {
		r, err := s.newRoute(fmt.Sprintf("upstreams[%d]", i), uc, false, nil)
		if err != nil {
			return nil, err
		}
		s.routes[uc.Name] = r
		s.order = append(s.order, uc.Name)
	}
	for i, lc := range cfg.Listeners {
		l, err := s.newListener(fmt.Sprintf("listeners[%d]", i), lc, s.routes, nil)
		if err != nil {
			return nil, err
		}
		s.lst = append(s.lst, l)
	}
	s.publishUpstreams()
	mh, err := metrics.Handler(metrics.NewCollector(s))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if err := s.listenProbe(cfg.Admin.ProbeListen); err != nil {
		return nil, err
	}
	if cfg.Service.Register {
		d, err := s.consul()
		if err != nil {
			return nil, err
		}
		s.registrar = &registrar{agent: d.client.Agent(), reg: s.registration(), log: log, registered: make(chan struct{})}
	}
	s.admin = &http.Server{
		Handler:           admin.NewHandler(s, mh, opts.Pprof),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// publishUpstreams makes the current routes visible to the admin API and
// metrics, in config order. s.mu is held (or there is no concurrency yet).
func (s *Sidecar) publishUpstreams() {
	ups := make([]*upstream.Upstream, 0, len(s.order))
	for _, name := range s.order {
		ups = append(ups, s.routes[name].up)
	}
	s.ups.Store(&ups)
	lns := make([]*router.Handler, 0, len(s.lst))
	for _, l := range s.lst {
		lns = append(lns, l.handler)
	}
	s.lns.Store(&lns)
}

func (s *Sidecar) closePorts() {
	for _, r := range s.allRoutes() {
		if r.port != nil {
			r.port.Close()
		}
	}
	for _, l := range s.lst {
		l.port.Close()
	}
	if s.adminLn != nil {
		s.adminLn.Close()
	}
	if s.probeLn != nil {
		s.probeLn.Close()
	}
}

// allRoutes is the inbound route (if any) and the upstreams' routes.
func (s *Sidecar) allRoutes() []*route {
	var out []*route
	if s.inbound != nil {
		out = append(out, s.inbound)
	}
	for _, name := range s.order {
		out = append(out, s.routes[name])
	}
	return out
}

// Upstreams implements admin.State.
func (s *Sidecar) Upstreams() []*upstream.Upstream { return *s.ups.Load() }

// Inbound is the inbound listener's upstream, nil without one (for the
// metrics: its local replies). s.inbound is set by New and never changes
// (a reload does not touch inbound), so no lock: a scrape must not wait
// for a drain that holds s.mu.
func (s *Sidecar) Inbound() *upstream.Upstream {
	if s.inbound == nil {
		return nil
	}
	return s.inbound.up
}

// Listeners implements admin.State: the routing listeners' handlers.
func (s *Sidecar) Listeners() []*router.Handler { return *s.lns.Load() }

// Config implements admin.State.
func (s *Sidecar) Config() *config.Config { return s.cfg.Load() }

// Mesh implements admin.State: the mesh identity, nil when not in use.
// Lock-free: /ready and /metrics are asked during a drain, which holds
// s.mu.
func (s *Sidecar) Mesh() *connect.Manager { return s.meshRef.Load() }

// Draining implements admin.State.
func (s *Sidecar) Draining() bool { return s.draining.Load() }

// AdminAddr is the bound admin API address.
func (s *Sidecar) AdminAddr() string { return s.adminLn.Addr().String() }

// Run serves until ctx is cancelled (the signal), then shuts down: not
// ready, watches stopped, deregistered, listeners drained within
// drain_timeout, spans flushed. It returns nil after a drain, or the error
// that stopped a listener.
func (s *Sidecar) Run(ctx context.Context) error {
	regCtx, stopRegistering := context.WithCancel(context.Background())
	var regDone sync.WaitGroup
	if s.registrar != nil {
		regDone.Add(1)
		go func() {
			defer regDone.Done()
			s.registrar.run(regCtx)
		}()
	}
	s.mu.Lock()
	for _, r := range s.allRoutes() {
		r.start(s.log, nil)
	}
	for _, l := range s.lst {
		l.start(nil)
		s.log.Info("listening", "listener", l.cfg.Name, "addr", l.port.Addr().String(), "protocol", l.cfg.Protocol, "routes", len(l.cfg.Routes))
	}
	close(s.started)
	s.mu.Unlock()
	s.serveProbe() // logged before the admin API, which tests wait for
	s.log.Info("admin listening", "addr", s.AdminAddr())
	go func() {
		if err := s.admin.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case s.failed <- fmt.Errorf("admin: %w", err):
			default:
			}
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-s.failed:
		s.log.Error("listener failed; shutting down", "error", runErr)
	}
	// Peers stop sending first: not ready, stop registering, deregister,
	// then drain.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining.Store(true)
	stopRegistering()
	regDone.Wait()
	for _, r := range s.allRoutes() {
		r.stopWatching()
	}
	if s.registrar != nil {
		s.registrar.deregister()
	}
	s.drain()
	return runErr
}

// drain stops accepting on every listener at once and waits for in-flight
// requests (and routes a reload retired) up to drain_timeout; the admin API
// and the probe address stay up until the end so probes can watch /ready
// say "draining".
// s.mu is held.
func (s *Sidecar) drain() {
	cfg := s.cfg.Load()
	start := time.Now()
	s.log.Info("draining", "timeout", cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	// Every port closes at once and everything drains side by side: a
	// routing listener's requests end on upstreams' handlers, which are
	// draining too.
	type drainable struct {
		key, name string // for the log line
		port      *port  // nil: none of its own
		drain     func(context.Context) error
	}
	var all []drainable
	for _, l := range s.lst {
		all = append(all, drainable{"listener", l.cfg.Name, l.port, l.drain})
	}
	for _, r := range s.allRoutes() {
		all = append(all, drainable{"upstream", r.up.Name(), r.port, r.drain})
	}
	var wg sync.WaitGroup
	var cut atomic.Int64
	for _, d := range all {
		if d.port != nil {
			d.port.Close()
		}
		wg.Go(func() {
			if err := d.drain(ctx); err != nil {
				cut.Add(1)
				s.log.Warn("drain timeout: closed remaining connections", d.key, d.name, "error", err)
			}
		})
	}
	wg.Wait()
	retired := make(chan struct{})
	go func() { s.retiring.Wait(); close(retired) }()
	select {
	case <-retired:
	case <-ctx.Done():
	}
	s.closeAccessLog(ctx) // the drained requests' lines are written
	// Spans of the drained requests go out last, within what is left of
	// drain_timeout (at least a second), so an unreachable collector
	// cannot hold up the exit for long.
	if s.stopMesh != nil {
		s.stopMesh()
		s.meshDone.Wait()
	}
	flushCtx, flushCancel := context.WithTimeout(context.Background(), max(time.Until(deadlineOf(ctx)), time.Second))
	if err := s.tracing.Shutdown(flushCtx); err != nil {
		s.log.Warn("could not flush all spans", "error", err)
	}
	flushCancel()
	adminCtx, adminCancel := context.WithTimeout(context.Background(), time.Second)
	defer adminCancel()
	s.shutdownAdmin(adminCtx) // and the probe address
	s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String(), "upstreams_cut", cut.Load())
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
