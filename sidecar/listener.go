package sidecar

import (
	"context"
	"fmt"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h2c"
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
	table   *router.Table // what start puts in charge
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
// replaces on a reload (nil otherwise): with the same address and
// protocol lc keeps prev's server and handler; with the same address
// alone it takes over prev's port.
func (s *Sidecar) newListener(key string, lc config.Listener, routes map[string]*route, prev *listener) (*listener, error) {
	var prevTable *router.Table
	if prev != nil {
		prevTable = prev.handler.Table()
	}
	var missing []string
	table, err := router.Compile(lc, func(name string) router.Seat {
		if r := routes[name]; r != nil && r.slot != nil {
			return r.slot
		}
		missing = append(missing, name)
		return nil
	}, router.Options{Prev: prevTable})
	if err == nil && len(missing) > 0 {
		// Validation makes this unreachable (a route names an http or
		// http2 upstream of the config); a nil seat would panic per request.
		err = fmt.Errorf("no http or http2 upstream named %q", missing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if prev != nil && prev.cfg.Listen == lc.Listen && prev.cfg.Protocol == lc.Protocol {
		return &listener{cfg: lc, port: prev.port, srv: prev.srv, handler: prev.handler, table: table, kept: true}, nil
	}
	l := &listener{cfg: lc, table: table, handler: router.NewHandler(lc.Name, lc.Protocol, table, s.log)}
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
// Shutdown); a listener whose successor kept its server has none of its
// own.
func (l *listener) drain(ctx context.Context) error {
	if l.handedOver {
		return nil
	}
	return l.srv.Shutdown(ctx)
}
