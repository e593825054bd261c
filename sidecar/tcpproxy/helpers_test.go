package tcpproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// backend is a real loopback TCP server running handle on every
// connection; active counts the connections it holds open.
type backend struct {
	ln     net.Listener
	active atomic.Int64
	total  atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func newBackend(t *testing.T, handle func(net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			b.active.Add(1)
			b.total.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				handle(c)
				c.Close()
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
				b.active.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// echo sends back everything it reads, then half-closes after EOF.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

func newEcho(t *testing.T) *backend { return newBackend(t, echo) }

// closedAddr is a loopback address with nothing listening.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newUpstream builds a tcp upstream with the documented defaults (edited by
// edit) over addrs, all healthy.
func newUpstream(t *testing.T, edit func(*config.Upstream), addrs ...string) *upstream.Upstream {
	t.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.Listen, cfg.Protocol = "db", "127.0.0.1:0", config.ProtocolTCP
	cfg.ConnectTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static"})
	if err != nil {
		t.Fatal(err)
	}
	ins := make([]discovery.Instance, len(addrs))
	for i, a := range addrs {
		ins[i] = discovery.Instance{Address: a, ID: a, Healthy: true}
	}
	up.Update(ins)
	return up
}

// endpoint is up's runtime state for addr.
func endpoint(t *testing.T, up *upstream.Upstream, addr string) *balancer.Endpoint {
	t.Helper()
	for _, m := range up.Snapshot().Members {
		if m.Endpoint.Address == addr {
			return m.Endpoint
		}
	}
	t.Fatalf("no endpoint %s", addr)
	return nil
}

type proxy struct {
	*Server
	addr   string
	served chan error // Serve's result
}

// startProxy serves up on a loopback listener. At cleanup it closes the
// server, checks that Serve stopped cleanly and that no connection and no
// goroutine is left.
func startProxy(t *testing.T, up *upstream.Upstream, opts Options) *proxy {
	t.Helper()
	before := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{Server: New(up, opts), addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { p.served <- p.Serve(ln) }()
	t.Cleanup(func() {
		p.Close()
		select {
		case err := <-p.served:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve returned %v, want a net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return within 5s of Close")
		}
		if n := p.ActiveConns(); n != 0 {
			t.Errorf("%d connections still active after Close", n)
		}
		// Goroutines of the proxy (accept loop, pairs) must all be gone;
		// the test's own are ended by its deferred closes before cleanup.
		waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
			"the proxy's goroutines to exit")
	})
	return p
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// dial opens a connection through the proxy; it is closed at cleanup.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads it back within 5s.
func roundTrip(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// mustEcho opens a connection through the proxy and checks it echoes.
func mustEcho(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c := dial(t, addr)
	if err := roundTrip(c, []byte("ping")); err != nil {
		t.Fatalf("echo through the proxy: %v", err)
	}
	return c
}

// readsEnd reports whether c reaches EOF or an error (reset) within d,
// discarding what it reads.
func readsEnd(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

// refused reports an error unless a connection to addr is closed or reset
// by the proxy within 5s (a reset may already fail the connect).
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil
	}
	defer c.Close()
	return readsEnd(c, 5*time.Second)
}
