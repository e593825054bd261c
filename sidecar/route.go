package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// listenerServer is what runs on a route's listener: the HTTP/1.1 proxy,
// the h2c proxy or the TCP proxy. Serve blocks until Shutdown; Shutdown
// stops accepting and waits for in-flight work until ctx ends, then closes
// what remains and returns ctx's error.
type listenerServer interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// route is one upstream (or the inbound listener) with its listener,
// server and discovery source.
type route struct {
	up        *upstream.Upstream
	source    discovery.Source
	port      *port // the bound address, shared with a successor on reload
	srv       listenerServer
	closeIdle func() // drops pooled upstream connections; may be nil

	stopWatch context.CancelFunc // ends discovery and the outlier sweep
	watchers  sync.WaitGroup
}

// newRoute builds the route of uc. key names uc in errors ("upstreams[1]",
// "inbound"). With p nil it binds uc.Listen; else it will take over p (a
// reload that keeps the address).
func (s *Sidecar) newRoute(key string, uc config.Upstream, inbound bool, p *port) (*route, error) {
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
	r := &route{up: up, source: source}
	switch uc.Protocol {
	case config.ProtocolHTTP:
		r.srv, r.closeIdle = s.httpServer(up, inbound)
	case config.ProtocolHTTP2:
		r.srv, r.closeIdle, err = s.http2Server(up, inbound)
	case config.ProtocolTCP:
		r.srv, r.closeIdle, err = s.tcpServer(up)
	default:
		err = fmt.Errorf("unknown protocol %q", uc.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("%s.protocol: %w", key, err)
	}
	if p == nil {
		if p, err = listen(uc.Listen); err != nil {
			return nil, fmt.Errorf("%s.listen: %w", key, err)
		}
	}
	r.port = p
	up.SetListenAddr(p.Addr().String())
	return r, nil
}

// start serves the route (taking over its port) and starts its discovery
// watch and outlier sweep. A serve error goes to failed.
func (r *route) start(log *slog.Logger, failed chan<- error) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stopWatch = cancel
	if fixed, ok := r.source.(discovery.Fixed); ok {
		r.up.Update(fixed.Initial())
	} else {
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			r.source.Run(ctx, r.up.Update, func(error) { r.up.DiscoveryError() })
		}()
	}
	if every := r.up.SweepInterval(); every > 0 {
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			sweep(ctx, r.up, every)
		}()
	}
	ln := r.port.listener()
	log.Info("listening", "upstream", r.up.Name(), "addr", r.up.ListenAddr(),
		"protocol", r.up.Config().Protocol, "lb", r.up.Config().LB, "discovery", r.source.Kind())
	go func() {
		if err := r.srv.Serve(ln); err != nil && !isClosed(err) {
			select {
			case failed <- fmt.Errorf("upstream %s: %w", r.up.Name(), err):
			default:
			}
		}
	}()
}

// stopWatching ends the route's discovery watch and sweep; its endpoints
// stay as they are.
func (r *route) stopWatching() {
	if r.stopWatch != nil {
		r.stopWatch()
		r.watchers.Wait()
	}
}

// drain stops accepting and lets in-flight work finish until ctx ends.
func (r *route) drain(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if r.closeIdle != nil {
		r.closeIdle()
	}
	return err
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

// httpServer is protocol http: the strict HTTP/1.1 codec in front of the
// proxy handler, HTTP/1.1 to the endpoints.
func (s *Sidecar) httpServer(up *upstream.Upstream, inbound bool) (listenerServer, func()) {
	transport := proxy.NewFastTransport(up.Config())
	up.OnRemoved(transport.Forget)
	h := proxy.NewHandler(up, transport, proxy.Options{Logger: s.log, Tracing: s.tracing, Inbound: inbound})
	srv := &h1.Server{
		Handler: h,
		OnBadRequest: func(int, string) {
			up.Stats().LocalReply(localreply.BadRequest)
		},
		Logger: s.log,
	}
	return &httpListener{Server: srv, handler: h}, transport.CloseIdleConnections
}

// httpListener drains the HTTP/1.1 requests first, then closes the
// WebSockets it relays (the HTTP server stops tracking a connection once
// it is upgraded): upgraded connections end with the drain.
type httpListener struct {
	*h1.Server
	handler *proxy.Handler
}

func (l *httpListener) Shutdown(ctx context.Context) error {
	err := l.Server.Shutdown(ctx)
	l.handler.CloseUpgraded(ctx)
	return err
}

// isClosed reports whether a Serve error only says the server was shut down.
func isClosed(err error) bool {
	return errors.Is(err, h1.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed)
}
