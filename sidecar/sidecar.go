// Package sidecar assembles a running Outrigger: one listener per upstream,
// the discovery that feeds it, and the admin API; and it drains them on
// shutdown. The request path itself lives in the sub-packages: h1 parses,
// proxy forwards, upstream and balancer pick and account.
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

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/admin"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/metrics"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// Sidecar is one running Outrigger process's worth of listeners.
type Sidecar struct {
	cfg      *config.Config
	log      *slog.Logger
	routes   []*route
	ups      []*upstream.Upstream
	admin    *http.Server
	adminLn  net.Listener
	draining atomic.Bool

	consulDeps *consulDeps // nil until an upstream needs Consul
	registrar  *registrar  // nil unless service.register
}

// route is one upstream with its listener, server and discovery source.
type route struct {
	up        *upstream.Upstream
	source    discovery.Source
	ln        net.Listener
	srv       *h1.Server
	transport proxy.Transport
}

// New builds the sidecar for a valid cfg and binds every listener, so that
// a port already in use fails here, before anything is served.
func New(cfg *config.Config, log *slog.Logger) (_ *Sidecar, err error) {
	s := &Sidecar{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	if cfg.Inbound.Listen != "" {
		return nil, fmt.Errorf("inbound.listen: the inbound listener is not supported by this build yet")
	}
	for i, uc := range cfg.Upstreams {
		r, err := s.newRoute(i, uc)
		if err != nil {
			return nil, err
		}
		s.routes = append(s.routes, r)
		s.ups = append(s.ups, r.up)
	}
	mh, err := metrics.Handler(metrics.NewCollector(s.Upstreams))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.adminLn, err = net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if cfg.Service.Register {
		d, err := s.consul()
		if err != nil {
			return nil, err
		}
		s.registrar = &registrar{agent: d.client.Agent(), reg: s.registration(), log: log, registered: make(chan struct{})}
	}
	s.admin = &http.Server{
		Handler:           admin.NewHandler(s, mh),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Sidecar) newRoute(i int, uc config.Upstream) (*route, error) {
	key := fmt.Sprintf("upstreams[%d]", i)
	if uc.Protocol != config.ProtocolHTTP {
		return nil, fmt.Errorf("%s.protocol: %q is not supported by this build yet; use http", key, uc.Protocol)
	}
	var source discovery.Source = discovery.NewStatic(uc.Endpoints)
	if len(uc.Endpoints) == 0 {
		var err error
		if source, err = s.consulSource(uc); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	up, err := upstream.New(uc, upstream.Options{DiscoveryKind: source.Kind(), Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	ln, err := net.Listen("tcp", uc.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s.listen: %w", key, err)
	}
	up.SetListenAddr(ln.Addr().String())
	transport := proxy.NewHTTP1Transport(uc)
	srv := &h1.Server{
		Handler: proxy.NewHandler(up, transport, s.log),
		OnBadRequest: func(int, string) {
			up.Stats().LocalReply(localreply.BadRequest)
		},
		Logger: s.log,
	}
	return &route{up: up, source: source, ln: ln, srv: srv, transport: transport}, nil
}

func (s *Sidecar) closeListeners() {
	for _, r := range s.routes {
		r.ln.Close()
	}
	if s.adminLn != nil {
		s.adminLn.Close()
	}
}

// Upstreams implements admin.State.
func (s *Sidecar) Upstreams() []*upstream.Upstream { return s.ups }

// Config implements admin.State.
func (s *Sidecar) Config() *config.Config { return s.cfg }

// Draining implements admin.State.
func (s *Sidecar) Draining() bool { return s.draining.Load() }

// AdminAddr is the bound admin API address.
func (s *Sidecar) AdminAddr() string { return s.adminLn.Addr().String() }

// Run serves until ctx is cancelled (the signal), then drains: readiness
// turns 503, listeners stop accepting, in-flight requests finish within
// drain_timeout, and what remains is closed. It returns nil after a drain,
// or the error that stopped a listener.
func (s *Sidecar) Run(ctx context.Context) error {
	discCtx, stopDiscovery := context.WithCancel(context.Background())
	var discWG sync.WaitGroup
	if s.registrar != nil {
		discWG.Add(1)
		go func() {
			defer discWG.Done()
			s.registrar.run(discCtx)
		}()
	}
	for _, r := range s.routes {
		discWG.Add(1)
		go func() {
			defer discWG.Done()
			r.source.Run(discCtx, r.up.Update, func(error) { r.up.DiscoveryError() })
		}()
		if every := r.up.SweepInterval(); every > 0 {
			discWG.Add(1)
			go func() {
				defer discWG.Done()
				sweep(discCtx, r.up, every)
			}()
		}
	}

	failed := make(chan error, len(s.routes)+1)
	for _, r := range s.routes {
		s.log.Info("listening", "upstream", r.up.Name(), "addr", r.up.ListenAddr(),
			"protocol", r.up.Config().Protocol, "lb", r.up.Config().LB, "discovery", r.source.Kind())
		go func() {
			if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, h1.ErrServerClosed) {
				failed <- fmt.Errorf("upstream %s: %w", r.up.Name(), err)
			}
		}()
	}
	s.log.Info("admin listening", "addr", s.AdminAddr())
	go func() {
		if err := s.admin.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("admin: %w", err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		s.log.Error("listener failed; shutting down", "error", runErr)
	}
	// Peers stop sending first: stop registering, deregister, then drain.
	s.draining.Store(true)
	stopDiscovery()
	discWG.Wait()
	if s.registrar != nil {
		s.registrar.deregister()
	}
	s.drain()
	return runErr
}

// drain stops accepting on every listener at once and waits for in-flight
// requests up to drain_timeout; the admin API stays up until the end so
// probes can watch /ready say "draining".
func (s *Sidecar) drain() {
	start := time.Now()
	s.log.Info("draining", "timeout", s.cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var cut atomic.Int64
	for _, r := range s.routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.srv.Shutdown(ctx); err != nil {
				cut.Add(1)
				s.log.Warn("drain timeout: closed remaining connections", "upstream", r.up.Name(), "error", err)
			}
			r.transport.CloseIdleConnections()
		}()
	}
	wg.Wait()
	adminCtx, adminCancel := context.WithTimeout(context.Background(), time.Second)
	defer adminCancel()
	_ = s.admin.Shutdown(adminCtx)
	s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String(), "upstreams_cut", cut.Load())
}

// sweep runs the upstream's outlier sweep (returns, failure percentage,
// decay) every interval until ctx ends.
func sweep(ctx context.Context, up *upstream.Upstream, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			up.Sweep()
		}
	}
}
