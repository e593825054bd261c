package tcpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

func TestEcho(t *testing.T) {
	b := newEcho(t)
	up := newUpstream(t, nil, b.addr())
	p := startProxy(t, up, Options{})

	c := mustEcho(t, p.addr)
	// A payload larger than the socket buffers, written while it is read
	// back, exercises the bulk (splice) path both ways.
	payload := make([]byte, 8<<20)
	rand.Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the 8 MiB echo differs from what was sent")
	}
	if e := endpoint(t, up, b.addr()); e.Active() != 1 {
		t.Fatalf("endpoint active = %d while the pair is open, want 1", e.Active())
	}
	c.Close()
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
	e := endpoint(t, up, b.addr())
	if e.Active() != 0 || e.Requests() != 1 || e.Failures() != 0 {
		t.Fatalf("endpoint after close: active %d requests %d failures %d, want 0 1 0", e.Active(), e.Requests(), e.Failures())
	}
	if up.Stats().Active() != 0 {
		t.Fatalf("upstream active = %d after close", up.Stats().Active())
	}
}

// The client half-closes after its request; the endpoint still sends its
// reply after reading EOF, and the client then reads EOF.
func TestHalfClose(t *testing.T) {
	b := newBackend(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c) // until the client's FIN
		fmt.Fprintf(c, "read %d bytes", n)
	})
	up := newUpstream(t, nil, b.addr())
	p := startProxy(t, up, Options{})

	c := dial(t, p.addr)
	if _, err := c.Write(make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := io.ReadAll(c) // ends only at the proxy's FIN
	if err != nil {
		t.Fatalf("reading the reply after half-close: %v", err)
	}
	if string(reply) != "read 100000 bytes" {
		t.Fatalf("reply %q", reply)
	}
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
	if e := endpoint(t, up, b.addr()); e.Requests() != 1 || e.Failures() != 0 {
		t.Fatalf("endpoint: requests %d failures %d, want 1 0", e.Requests(), e.Failures())
	}
}

// The endpoint half-closes first (it sends a banner and FIN); the client
// can still send, and the endpoint still reads it.
func TestHalfCloseFromEndpoint(t *testing.T) {
	got := make(chan string, 1)
	b := newBackend(t, func(c net.Conn) {
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		msg, _ := io.ReadAll(c)
		got <- string(msg)
	})
	p := startProxy(t, newUpstream(t, nil, b.addr()), Options{})

	c := dial(t, p.addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	banner, err := io.ReadAll(c)
	if err != nil || string(banner) != "banner" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	io.WriteString(c, "after your FIN")
	c.CloseWrite()
	select {
	case msg := <-got:
		if msg != "after your FIN" {
			t.Fatalf("endpoint read %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the endpoint did not get the client's bytes after its own half-close")
	}
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
}

// least_conn balances open connections: the lease is held for the life of
// the pair, so 30 long-lived connections spread 10/10/10.
func TestLeastConnSpreadsOpenConnections(t *testing.T) {
	bs := []*backend{newEcho(t), newEcho(t), newEcho(t)}
	up := newUpstream(t, nil, bs[0].addr(), bs[1].addr(), bs[2].addr())
	p := startProxy(t, up, Options{})

	conns := make([]net.Conn, 30)
	for i := range conns {
		conns[i] = mustEcho(t, p.addr)
	}
	for _, b := range bs {
		if n, ep := b.active.Load(), endpoint(t, up, b.addr()).Active(); n < 9 || n > 11 || ep != n {
			t.Fatalf("backend %s holds %d connections (endpoint active %d), want 10±1; all: %d %d %d",
				b.addr(), n, ep, bs[0].active.Load(), bs[1].active.Load(), bs[2].active.Load())
		}
	}
	if p.ActiveConns() != 30 {
		t.Fatalf("ActiveConns = %d, want 30", p.ActiveConns())
	}
	// Ten pairs end (wherever they were); least_conn refills the gaps.
	for _, c := range conns[:10] {
		c.Close()
	}
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 20 }, "10 pairs to close")
	for range 10 {
		mustEcho(t, p.addr)
	}
	for _, b := range bs {
		if n := b.active.Load(); n < 9 || n > 11 {
			t.Fatalf("after re-balancing backend %s holds %d, want 10±1", b.addr(), n)
		}
	}
}

// A connect failure is retried on another endpoint (the client never
// notices), and after consecutive_local_failure failures the endpoint is
// ejected.
func TestConnectFailureFailsOverAndEjects(t *testing.T) {
	live1, live2 := newEcho(t), newEcho(t)
	dead := closedAddr(t)
	up := newUpstream(t, nil, live1.addr(), dead, live2.addr())
	p := startProxy(t, up, Options{})
	deadEp := endpoint(t, up, dead)

	// The connections stay open, so the dead endpoint (never any active)
	// is among least_conn's choices until it is ejected, after exactly
	// consecutive_local_failure failures.
	for i := range 12 {
		mustEcho(t, p.addr)
		if f, ej := deadEp.Failures(), deadEp.Outlier.Ejected(); ej != (f >= 5) {
			t.Fatalf("after connection %d: dead endpoint has %d failures, ejected = %v", i+1, f, ej)
		}
	}
	if !deadEp.Outlier.Ejected() {
		t.Fatal("the dead endpoint was not ejected")
	}
	if f := deadEp.Failures(); f != 5 {
		t.Fatalf("dead endpoint failures = %d, want 5 (consecutive_local_failure)", f)
	}
	if r := up.Stats().Retries(); r != 5 {
		t.Fatalf("retries = %d, want 5", r)
	}
	if n := live1.active.Load() + live2.active.Load(); n != 12 {
		t.Fatalf("live backends hold %d connections, want 12", n)
	}
	if n := up.Stats().LocalReplies(localreply.ConnectFailure); n != 0 {
		t.Fatalf("connect_failure local replies = %d, want 0", n)
	}
}

// Every endpoint refuses: the client's connection is closed, counted as
// connect_failure after retries.attempts retries.
func TestAllEndpointsDown(t *testing.T) {
	up := newUpstream(t, func(c *config.Upstream) { c.Retries.Attempts = 2 }, closedAddr(t), closedAddr(t), closedAddr(t))
	p := startProxy(t, up, Options{})

	if err := refused(p.addr); err != nil {
		t.Fatalf("the client connection stayed open: %v", err)
	}
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the connection to be closed")
	if n := up.Stats().LocalReplies(localreply.ConnectFailure); n != 1 {
		t.Fatalf("connect_failure = %d, want 1", n)
	}
	if n := up.Stats().Retries(); n != 2 {
		t.Fatalf("retries = %d, want 2", n)
	}
}

func TestLocalRefusals(t *testing.T) {
	t.Run("no endpoints", func(t *testing.T) {
		up := newUpstream(t, nil)
		p := startProxy(t, up, Options{})
		if err := refused(p.addr); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return up.Stats().LocalReplies(localreply.NoHealthyUpstream) == 1 },
			"no_healthy_upstream to be counted")
	})
	t.Run("overflow", func(t *testing.T) {
		b := newEcho(t)
		up := newUpstream(t, func(c *config.Upstream) { c.CircuitBreaker.MaxRequests = 2 }, b.addr())
		p := startProxy(t, up, Options{})
		mustEcho(t, p.addr)
		mustEcho(t, p.addr)
		if err := refused(p.addr); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return up.Stats().LocalReplies(localreply.Overflow) == 1 },
			"overflow to be counted")
		if n := b.total.Load(); n != 2 {
			t.Fatalf("backend got %d connections, want 2", n)
		}
	})
	t.Run("circuit open", func(t *testing.T) {
		up := newUpstream(t, func(c *config.Upstream) {
			c.Retries.Attempts = 0
			c.Outlier.Enabled = false
			c.CircuitBreaker.MinRequests = 2
		}, closedAddr(t))
		p := startProxy(t, up, Options{})
		for range 2 {
			if err := refused(p.addr); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 5*time.Second, func() bool { return up.Breaker().State() == breaker.Open }, "the breaker to open")
		if err := refused(p.addr); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return up.Stats().LocalReplies(localreply.CircuitOpen) == 1 },
			"circuit_open to be counted")
		if n := up.Stats().LocalReplies(localreply.ConnectFailure); n != 2 {
			t.Fatalf("connect_failure = %d, want 2", n)
		}
	})
	t.Run("retry budget exhausted", func(t *testing.T) {
		up := newUpstream(t, func(c *config.Upstream) {
			c.Retries.BudgetPercent, c.Retries.MinPerSecond = 0, 0
		}, closedAddr(t), closedAddr(t))
		p := startProxy(t, up, Options{})
		if err := refused(p.addr); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return up.Stats().LocalReplies(localreply.RetryBudgetExhausted) == 1 },
			"retry_budget_exhausted to be counted")
		if n := up.Stats().Retries(); n != 0 {
			t.Fatalf("retries = %d, want 0", n)
		}
	})
}

// A pair where no byte moves either way for idle_timeout is closed; one
// where only one direction is busy is not.
func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	t.Run("idle pair closed", func(t *testing.T) {
		b := newEcho(t)
		up := newUpstream(t, nil, b.addr())
		p := startProxy(t, up, Options{IdleTimeout: idle})
		c := mustEcho(t, p.addr)
		start := time.Now()
		if err := readsEnd(c, 5*time.Second); err != nil {
			t.Fatalf("the idle pair was not closed: %v", err)
		}
		if d := time.Since(start); d < idle*9/10 || d > 2*idle+time.Second {
			t.Fatalf("closed after %v, want about %v", d, idle)
		}
		waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 && b.active.Load() == 0 },
			"both sides to be closed")
		if e := endpoint(t, up, b.addr()); e.Failures() != 0 {
			t.Fatalf("an idle close counted as a failure")
		}
	})
	t.Run("one busy direction keeps the pair", func(t *testing.T) {
		stop := make(chan struct{})
		b := newBackend(t, func(c net.Conn) {
			tick := time.NewTicker(idle / 5)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte{'.'}); err != nil {
						return
					}
				}
			}
		})
		p := startProxy(t, newUpstream(t, nil, b.addr()), Options{IdleTimeout: idle})
		defer close(stop)
		c := dial(t, p.addr)
		// The client never writes; the endpoint streams for 4 idle periods.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1)
		for end := time.Now().Add(4 * idle); time.Now().Before(end); {
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("the pair was closed while the endpoint was sending: %v", err)
			}
		}
	})
	t.Run("half-closed pair still times out", func(t *testing.T) {
		// The endpoint reads the client's FIN and then says nothing.
		stop := make(chan struct{})
		b := newBackend(t, func(c net.Conn) {
			io.Copy(io.Discard, c)
			select {
			case <-stop:
			case <-time.After(10 * time.Second):
			}
		})
		p := startProxy(t, newUpstream(t, nil, b.addr()), Options{IdleTimeout: idle})
		defer close(stop)
		c := dial(t, p.addr)
		c.CloseWrite()
		if err := readsEnd(c, 5*time.Second); err != nil {
			t.Fatalf("the half-closed idle pair was not closed: %v", err)
		}
		waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
	})
	// The endpoint floods a client that never reads: its writes block, no
	// byte moves, and the pair is closed although a write is in progress.
	for _, halfClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("stalled reader, client half-closed %v", halfClosed), func(t *testing.T) {
			b := newBackend(t, func(c net.Conn) {
				chunk := make([]byte, 64<<10)
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			})
			p := startProxy(t, newUpstream(t, nil, b.addr()), Options{IdleTimeout: idle})
			c := dial(t, p.addr)
			if halfClosed {
				c.CloseWrite()
			}
			waitFor(t, 10*time.Second, func() bool { return p.ActiveConns() == 0 && b.active.Load() == 0 },
				"the stalled pair to be closed")
		})
	}
}

// An endpoint that resets a pair mid-stream counts as a local failure; a
// client that does counts for nothing.
func TestResetBlame(t *testing.T) {
	t.Run("endpoint resets", func(t *testing.T) {
		b := newBackend(t, func(c net.Conn) {
			c.Read(make([]byte, 1))
			c.(*net.TCPConn).SetLinger(0)
		})
		up := newUpstream(t, nil, b.addr())
		p := startProxy(t, up, Options{})
		c := dial(t, p.addr)
		c.Write([]byte{1})
		if err := readsEnd(c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
		if e := endpoint(t, up, b.addr()); e.Failures() != 1 {
			t.Fatalf("endpoint failures = %d, want 1", e.Failures())
		}
	})
	t.Run("client resets", func(t *testing.T) {
		b := newEcho(t)
		up := newUpstream(t, nil, b.addr())
		p := startProxy(t, up, Options{})
		c := mustEcho(t, p.addr)
		c.SetLinger(0)
		c.Close()
		waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 0 }, "the pair to close")
		if e := endpoint(t, up, b.addr()); e.Failures() != 0 || e.Requests() != 1 {
			t.Fatalf("endpoint requests %d failures %d, want 1 0", e.Requests(), e.Failures())
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Run("waits, then force-closes at the deadline", func(t *testing.T) {
		b := newEcho(t)
		p := startProxy(t, newUpstream(t, nil, b.addr()), Options{})
		c := mustEcho(t, p.addr)

		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- p.Shutdown(ctx) }()
		select {
		case err := <-p.served:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Serve returned %v", err)
			}
			p.served <- err // for the cleanup's check
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Shutdown")
		}
		if _, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			t.Fatal("a new connection was accepted during shutdown")
		}
		// The open pair keeps working until the deadline.
		if err := roundTrip(c, []byte("still here")); err != nil {
			t.Fatalf("the pair broke before the deadline: %v", err)
		}
		select {
		case err := <-shut:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown did not return after its deadline")
		}
		if p.ActiveConns() != 0 {
			t.Fatalf("ActiveConns = %d after Shutdown", p.ActiveConns())
		}
		if err := readsEnd(c, 5*time.Second); err != nil {
			t.Fatalf("the pair was not closed at the deadline: %v", err)
		}
	})
	t.Run("returns nil when the pairs finish", func(t *testing.T) {
		b := newEcho(t)
		p := startProxy(t, newUpstream(t, nil, b.addr()), Options{})
		c := mustEcho(t, p.addr)
		shut := make(chan error, 1)
		go func() { shut <- p.Shutdown(context.Background()) }()
		waitFor(t, 5*time.Second, func() bool { return p.shuttingDown() }, "shutdown to start")
		c.Close()
		select {
		case err := <-shut:
			if err != nil {
				t.Fatalf("Shutdown = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown did not return once the pair closed")
		}
	})
}
