package sidecar

import (
	"context"
	"fmt"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h2c"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
)

// listener is a routing listener (docs/routing.md): its port, the server
// speaking its protocol, and the router handler whose table a reload
// swaps. The upstreams its routes name are routes of their own (s.routes);
// the table points at their handler seats.
type listener struct {
	cfg     config.Listener
	port    *port
	srv     connServer
	handler *router.Handler
	tunnels *proxy.Tunnels // the WebSockets relayed for its requests
	table   *router.Table  // what start puts in charge
	// kept: the listener replaced a predecessor on the same address and
	// protocol, keeping its server and handler (and so its connections);
	// start swaps the table only.
	kept bool
	// handedOver: a successor kept this listener's server; there is
	// nothing of its own to drain.
	handedOver bool
}

// newListener builds the listener of lc over routes (the upstreams by
// name). key names lc in errors ("listeners[0]"). prev is the listener lc
// replaces on a reload (nil otherwise: the one of the same name, or of
// the same address under another name): with the same name, address and
// protocol lc keeps prev's server, handler and tunnels; with the same
// address it takes over prev's port.
func (s *Sidecar) newListener(key string, lc config.Listener, routes map[string]*route, prev *listener) (*listener, error) {
	keep := prev != nil && prev.cfg.Name == lc.Name && prev.cfg.Listen == lc.Listen && prev.cfg.Protocol == lc.Protocol
	var prevTable *router.Table
	tunnels := new(proxy.Tunnels)
	if keep {
		prevTable, tunnels = prev.handler.Table(), prev.tunnels
	}
	var missing []string
	table, err := router.Compile(lc, func(name string) router.Seat {
		if r := routes[name]; r != nil && r.slot != nil {
			return r.slot
		}
		missing = append(missing, name)
		return nil
	}, router.Options{Prev: prevTable, Tunnels: tunnels})
	if err == nil && len(missing) > 0 {
		// Validation makes this unreachable (a route names an http or
		// http2 upstream of the config); a nil seat would panic per request.
		err = fmt.Errorf("no http or http2 upstream named %q", missing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if keep {
		return &listener{cfg: lc, port: prev.port, srv: prev.srv, handler: prev.handler, tunnels: tunnels, table: table, kept: true}, nil
	}
	l := &listener{cfg: lc, table: table, tunnels: tunnels, handler: router.NewHandler(lc.Name, lc.Protocol, table, s.log)}
	l.handler.SetAccessLog(s.accessLog)
	switch lc.Protocol {
	case config.ProtocolHTTP:
		l.srv = s.h1Server(l.handler, l.handler)
	case config.ProtocolHTTP2:
		l.srv = h2c.NewServer(l.handler, s.h1Server(h2c.StripUpgrade(l.handler), l.handler), s.log)
	default:
		return nil, fmt.Errorf("%s.protocol: unknown protocol %q", key, lc.Protocol)
	}
	if prev != nil && prev.cfg.Listen == lc.Listen {
		l.port = prev.port
	} else if l.port, err = listen(lc.Listen, "listener "+lc.Name, s.cfg.Load().Limits, s.log, s.failed); err != nil {
		return nil, fmt.Errorf("%s.listen: %w", key, err)
	}
	l.handler.SetAddr(l.port.Addr().String())
	return l, nil
}

// start serves the listener; a kept one swaps in its new table: requests
// already matched finish on the old one.
func (l *listener) start(prev *listener) {
	if l.kept {
		l.handler.Swap(l.table)
		prev.handedOver = true
	} else {
		l.port.serve(l.srv)
	}
}

// drain lets the listener's requests finish until ctx ends (its server's
// Shutdown), then closes the tunnels relayed for it; a listener whose
// successor kept its server has none of its own.
func (l *listener) drain(ctx context.Context) error {
	if l.handedOver {
		return nil
	}
	err := l.srv.Shutdown(ctx)
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.tunnels.Close(closeCtx)
	return err
}

// discard undoes a listener built for a reload that then failed: its
// server (which may have started goroutines) is shut down. Ports are the
// caller's to close.
func (l *listener) discard() {
	if !l.kept {
		shutdownNow(l.srv)
	}
}

// shutdownNow stops a server that never served.
func shutdownNow(srv connServer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Shutdown(ctx)
}
