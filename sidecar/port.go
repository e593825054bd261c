package sidecar

import (
	"net"
	"sync"
)

// port is one bound listen address. A single accept loop hands each
// connection to the server currently in charge of the address; a reload
// that changes an upstream but keeps its address swaps in the new server
// without closing the socket, so no connection is refused in between, and
// the old server drains what it already has.
type port struct {
	base net.Listener
	mu   sync.Mutex
	cur  *handoff
	done chan struct{} // closed when the accept loop ends
}

func listen(addr string) (*port, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &port{base: ln, done: make(chan struct{})}
	go p.acceptLoop()
	return p, nil
}

// Addr is the bound address.
func (p *port) Addr() net.Addr { return p.base.Addr() }

// listener returns a new listener for a server that takes over the port
// now; the previous server's listener stops accepting (Accept returns
// net.ErrClosed) while its open connections go on.
func (p *port) listener() net.Listener {
	h := &handoff{port: p, conns: make(chan net.Conn), closed: make(chan struct{})}
	p.mu.Lock()
	prev := p.cur
	p.cur = h
	p.mu.Unlock()
	if prev != nil {
		prev.Close()
	}
	return h
}

func (p *port) current() *handoff {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *port) acceptLoop() {
	defer close(p.done)
	for {
		c, err := p.base.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		p.deliver(c)
	}
}

// deliver gives c to the server in charge; if that one has just been
// replaced, to its successor; with no server at all, c is closed.
func (p *port) deliver(c net.Conn) {
	for {
		h := p.current()
		if h == nil {
			c.Close()
			return
		}
		select {
		case h.conns <- c:
			return
		case <-h.closed:
			if p.current() == h { // closed for good, not replaced
				c.Close()
				return
			}
		case <-p.done:
			c.Close()
			return
		}
	}
}

// Close stops accepting on the address for good.
func (p *port) Close() error {
	err := p.base.Close()
	if h := p.current(); h != nil {
		h.Close()
	}
	return err
}

// handoff is the net.Listener one server sees on a port.
type handoff struct {
	port   *port
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close ends this server's turn; the socket stays open for its successor
// (Port.Close closes the socket itself).
func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.port.Addr() }
