package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// shutdownAsync runs Shutdown on its own goroutine and waits until it has
// started (the listener refuses new connections).
func shutdownAsync(t *testing.T, s *Server, addr string, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	waitFor(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	return done
}

func TestShutdownClosesIdleConn(t *testing.T) {
	s, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
	never := dial(t, addr) // connected, never sent a byte
	waitFor(t, "two conns", func() bool { return s.ActiveConns() == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.expectEOF()
	never.expectEOF()
	if n := s.ActiveConns(); n != 0 {
		t.Errorf("ActiveConns = %d after Shutdown", n)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := shutdownAsync(t, s, addr, ctx)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	resp, body := c.response("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
	}
	c.expectEOF()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // never finishes on its own
		close(cancelled)
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	c.expectEOF()
	<-cancelled // the forced close cancelled the request context
	waitFor(t, "conn untracked", func() bool { return s.ActiveConns() == 0 })
}

func TestServeAfterShutdown(t *testing.T) {
	var s Server
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener not closed")
	}
}

func TestCloseCancelsAndCloses(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		close(cancelled)
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-cancelled
	c.expectEOF()
}

func TestShutdownPipelinedRequestServed(t *testing.T) {
	// A request already buffered when Shutdown starts is served (with
	// Connection: close), not dropped.
	entered, release := make(chan struct{}), make(chan struct{})
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1" {
			close(entered)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}))
	c := dial(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := shutdownAsync(t, s, addr, ctx)
	close(release)
	resp, body := c.response("GET")
	if body != "/1" || !resp.Close {
		t.Fatalf("first: %q close %v", body, resp.Close)
	}
	c.expectEOF()
	c.Close() // ends the server's lingering close at once
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
