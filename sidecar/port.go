package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/outrigger-mesh/outrigger/sidecar/accept"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// connServer is what serves a listener's connections: the HTTP/1.1 proxy,
// the h2c proxy or the TCP proxy. ServeConn takes a connection and serves
// it on its own goroutine, or reports false once the server is shutting
// down; Shutdown stops taking connections and waits for in-flight work
// until ctx ends, then closes what remains and returns ctx's error.
type connServer interface {
	ServeConn(c net.Conn) bool
	Shutdown(ctx context.Context) error
}

// port is one bound listen address and its accept loop — the only accept
// loop of the process (package accept: backoff on EMFILE and friends,
// limits.max_connections). Each connection goes to the server currently in
// charge of the address; a reload that swaps the server (a protocol
// change) hands the socket over without closing it, so no connection is
// refused in between, and the old server drains what it already has.
type port struct {
	ln       net.Listener
	cur      atomic.Pointer[serverRef]
	done     chan struct{} // closed by Close: ends a wait for a slot or a backoff
	loopDone chan struct{} // closed when the accept loop has returned
	once     sync.Once
}

type serverRef struct{ srv connServer }

// listen binds addr and starts its accept loop. name labels log lines;
// failed hears of an accept loop that stopped for good.
func listen(addr, name string, limits config.Limits, log *slog.Logger, failed chan<- error) (*port, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &port{ln: ln, done: make(chan struct{}), loopDone: make(chan struct{})}
	go func() {
		defer close(p.loopDone)
		err := accept.Loop(ln, accept.Options{MaxConns: limits.MaxConnections, Logger: log, Name: name}, p.done, p.deliver)
		if err != nil {
			select {
			case failed <- fmt.Errorf("listener %s (%s): %w", name, addr, err):
			default:
			}
		}
	}()
	return p, nil
}

// Addr is the bound address.
func (p *port) Addr() net.Addr { return p.ln.Addr() }

// serve puts srv in charge of the port's next connections.
func (p *port) serve(srv connServer) { p.cur.Store(&serverRef{srv}) }

// deliver hands c to the server in charge; if that one is shutting down
// because it has just been replaced, to its successor; with no server, c
// is closed.
func (p *port) deliver(c *accept.Conn) {
	for ref := p.cur.Load(); ref != nil; {
		if ref.srv.ServeConn(c) {
			return
		}
		next := p.cur.Load()
		if next == ref {
			break // closed for good, not replaced
		}
		ref = next
	}
	c.Close()
}

// Close stops accepting on the address for good; the servers keep the
// connections they have.
func (p *port) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = p.ln.Close()
	})
	return err
}
