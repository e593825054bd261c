package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// route is one upstream (or the inbound listener) with its listener,
// server and discovery source.
type route struct {
	up        *upstream.Upstream
	source    discovery.Source
	port      *port          // the bound address, shared with a successor on reload; nil without listen
	srv       connServer     // nil without listen
	slot      *proxy.Slot    // http and http2: the handler seat a reload swaps
	handler   *proxy.Handler // this route's own handler; nil for tcp
	closeIdle func()         // drops pooled upstream connections; may be nil

	// adopted: srv, slot and port are the predecessor's (same address and
	// protocol); start swaps handler into the slot instead of serving.
	adopted bool
	// handedOver: a successor adopted srv; draining this route means
	// retiring its handler, not shutting the server down.
	handedOver bool

	stopWatch context.CancelFunc // ends discovery and the outlier sweep
	watchers  sync.WaitGroup
}

// newRoute builds the route of uc. key names uc in errors ("upstreams[1]",
// "inbound"). prev is the route uc replaces on a reload (nil otherwise):
// with the same address it takes over prev's port, and with the same
// HTTP protocol prev's server and connections as well.
func (s *Sidecar) newRoute(key string, uc config.Upstream, inbound bool, prev *route) (*route, error) {
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
	var tlsCfg *tls.Config // a mesh upstream's mTLS
	if !inbound {
		if tlsCfg, err = s.upstreamTLS(uc); err != nil {
			return nil, fmt.Errorf("%s.connect: %w", key, err)
		}
	}
	r := &route{up: up, source: source}
	// An upstream without listen (only routes name it) has a handler seat
	// but no port: its successor adopts the seat, which the routing
	// listeners' tables point at.
	sameAddr := prev != nil && prev.up.Config().Listen == uc.Listen
	adopt := sameAddr && prev.slot != nil && prev.up.Config().Protocol == uc.Protocol
	// A server is built only for a port of its own: an adopted route uses
	// its predecessor's, and an h2c server starts a goroutine at once.
	serves := uc.Listen != "" && !adopt
	switch uc.Protocol {
	case config.ProtocolHTTP:
		s.httpRoute(r, inbound, serves, tlsCfg)
	case config.ProtocolHTTP2:
		s.http2Route(r, inbound, serves, tlsCfg)
	case config.ProtocolTCP:
		s.tcpRoute(r, tlsCfg)
	default:
		return nil, fmt.Errorf("%s.protocol: unknown protocol %q", key, uc.Protocol)
	}
	switch {
	case adopt:
		r.srv, r.slot, r.port, r.adopted = prev.srv, prev.slot, prev.port, true
	case sameAddr:
		r.port = prev.port
	case uc.Listen == "":
	default:
		name := uc.Name
		if inbound {
			name = "inbound"
		}
		if r.port, err = listen(uc.Listen, name, s.cfg.Load().Limits, s.log, s.failed); err != nil {
			return nil, fmt.Errorf("%s.listen: %w", key, err)
		}
	}
	if uc.Listen == "" {
		return r, nil
	}
	up.SetListenAddr(r.port.Addr().String())
	return r, nil
}

// handlerOptions are the proxy handler's options for this sidecar.
func (s *Sidecar) handlerOptions(inbound, tunnels bool) proxy.Options {
	opts := proxy.Options{Logger: s.log, Tracing: s.tracing, Inbound: inbound,
		StreamIdleTimeout: s.cfg.Load().Limits.StreamIdleTimeout, Tunnels: tunnels, AccessLog: s.accessLog}
	if inbound && s.cfg.Load().Connect.Enabled {
		opts.Authorize = s.authorizeInbound // intentions, per request
	}
	return opts
}

// h1Server is the strict HTTP/1.1 codec in front of slot, with the
// sidecar's limits. A request it refuses itself is counted as a
// bad_request local reply of the upstream serving at the time.
func (s *Sidecar) h1Server(h http.Handler, counter badRequestCounter) *h1.Server {
	return &h1.Server{
		Handler:    h,
		MaxHeaders: s.cfg.Load().Limits.MaxRequestHeaders,
		OnBadRequest: func(status int, _ string) {
			counter.CountBadRequest(status)
		},
		Logger: s.log,
	}
}

// badRequestCounter counts the requests a listener's codec refused: the
// upstream's handler serving at the time, or a routing listener.
type badRequestCounter interface{ CountBadRequest(status int) }

// httpRoute is protocol http: the strict HTTP/1.1 codec in front of the
// proxy handler, HTTP/1.1 to the endpoints (h1.Client).
func (s *Sidecar) httpRoute(r *route, inbound, serves bool, tlsCfg *tls.Config) {
	uc, limits := r.up.Config(), s.cfg.Load().Limits
	client := h1.NewClient(h1.ClientOptions{
		ConnectTimeout:         uc.ConnectTimeout,
		MaxIdlePerEndpoint:     uc.MaxIdlePerEndpoint,
		IdleTimeout:            uc.IdleTimeout,
		StreamIdleTimeout:      limits.StreamIdleTimeout,
		MaxResponseHeaderBytes: int(limits.MaxResponseHeaderBytes),
		MaxInformational:       limits.MaxInformationalResponses,
		TLS:                    tlsCfg,
		Logger:                 s.log,
	})
	r.up.OnRemoved(client.Forget)
	r.handler = proxy.NewHandler(r.up, client, s.handlerOptions(inbound, true))
	r.slot = proxy.NewSlot(r.handler)
	if serves {
		r.srv = &httpListener{Server: s.h1Server(r.slot, r.slot), slot: r.slot}
	}
	r.closeIdle = client.Close // after the drain: late requests' connections are closed, not pooled
}

// httpListener drains the HTTP/1.1 requests first, then closes the tunnels
// (WebSocket, CONNECT) its handler relays: the HTTP server stops tracking
// a connection once it is upgraded.
type httpListener struct {
	*h1.Server
	slot *proxy.Slot
}

func (l *httpListener) Shutdown(ctx context.Context) error {
	err := l.Server.Shutdown(ctx)
	l.slot.Handler().CloseUpgraded(ctx)
	return err
}

// start serves the route and starts its discovery watch, outlier sweep
// and slow-start reweigh. A route that adopted its predecessor's server
// takes over its handler seat; the predecessor's handler is then marked
// handed over, to be retired rather than shut down.
func (r *route) start(log *slog.Logger, prev *route) {
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
	if every := r.up.ReweighInterval(); every > 0 { // slow_start
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			tick(ctx, every, r.up.Reweigh)
		}()
	}
	switch {
	case r.adopted:
		r.slot.Swap(r.handler)
		prev.handedOver = true
	case r.port != nil:
		r.port.serve(r.srv)
	}
	addr := r.up.ListenAddr()
	if addr == "" {
		addr = "(routes only)"
	}
	log.Info("listening", "upstream", r.up.Name(), "addr", addr,
		"protocol", r.up.Config().Protocol, "lb", r.up.Config().LB, "discovery", r.source.Kind())
}

// discard undoes a route built for a reload that then failed: a server
// it built itself (which may have started goroutines) is shut down.
// Ports are the caller's to close.
func (r *route) discard() {
	if r.srv != nil && !r.adopted {
		shutdownNow(r.srv)
	}
}

// stopWatching ends the route's discovery watch and sweep; its endpoints
// stay as they are.
func (r *route) stopWatching() {
	if r.stopWatch != nil {
		r.stopWatch()
		r.watchers.Wait()
	}
}

// drain lets the route's in-flight work finish until ctx ends: its
// server's (stopping it), or, when a successor adopted the server, its
// own handler's requests and tunnels. Then pooled upstream connections
// are dropped.
func (r *route) drain(ctx context.Context) error {
	var err error
	if r.handedOver || r.srv == nil {
		err = r.handler.Retire(ctx)
	} else {
		err = r.srv.Shutdown(ctx)
	}
	if r.closeIdle != nil {
		r.closeIdle()
	}
	return err
}

// sweep runs the upstream's outlier sweep (returns, failure percentage,
// decay) every interval until ctx ends.
func sweep(ctx context.Context, up *upstream.Upstream, every time.Duration) {
	tick(ctx, every, up.Sweep)
}

// tick calls fn every interval until ctx ends: the upstream's periodic
// work (the outlier sweep, the slow-start reweigh), off the request path.
func tick(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
