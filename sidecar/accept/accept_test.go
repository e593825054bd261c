package accept

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedListener returns the errors of its script in turn, then real
// connections from conns, then net.ErrClosed once closed. (A fake: a real
// listener cannot be made to fail with EMFILE on demand in a unit test;
// the e2e test TestAcceptSurvivesEMFILE does it for real.)
type scriptedListener struct {
	mu     sync.Mutex
	script []error
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newScripted(errs ...error) *scriptedListener {
	return &scriptedListener{script: errs, conns: make(chan net.Conn, 16), closed: make(chan struct{})}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.script) > 0 {
		err := l.script[0]
		l.script = l.script[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{} }

func emfile() error { return &net.OpError{Op: "accept", Err: &osSyscallError{syscall.EMFILE}} }

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "accept4: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

// Temporary errors never end the loop: it backs off (capped, doubling)
// and accepts again, logging the episode once when it starts and once
// when it ends.
func TestLoopSurvivesTemporaryErrors(t *testing.T) {
	errs := make([]error, 12)
	for i := range errs {
		errs[i] = emfile()
	}
	errs[5] = &net.OpError{Op: "accept", Err: syscall.ECONNABORTED}
	ln := newScripted(errs...)
	a, b := net.Pipe()
	defer b.Close()
	ln.conns <- a

	var logs bytes.Buffer
	var slept []time.Duration
	got := make(chan *Conn, 1)
	done := make(chan error, 1)
	go func() {
		done <- Loop(ln, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Name: "payments",
			Sleep: func(d time.Duration, _ <-chan struct{}) { slept = append(slept, d) }},
			nil, func(c *Conn) { got <- c })
	}()
	select {
	case c := <-got:
		c.Close()
	case err := <-done:
		t.Fatalf("the loop ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no connection delivered after the errors")
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Fatalf("Loop after Close: %v", err)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("backoff %v, want %v", slept, want)
	}
	l := logs.String()
	if strings.Count(l, "accept failed; retrying") != 1 || strings.Count(l, "accepting again") != 1 ||
		!strings.Contains(l, "failed_accepts=12") || !strings.Contains(l, "listener=payments") {
		t.Errorf("logs:\n%s", l)
	}
}

// A permanent error ends the loop with that error, logged.
func TestLoopEndsOnPermanentError(t *testing.T) {
	boom := errors.New("boom")
	if err := Loop(newScripted(boom), Options{}, nil, func(*Conn) {}); err != boom {
		t.Fatalf("Loop = %v, want boom", err)
	}
}

// With MaxConns connections open the loop accepts no more until one is
// closed; closing a connection twice gives back one slot.
func TestLoopMaxConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Conn, 8)
	done := make(chan struct{})
	go Loop(ln, Options{MaxConns: 2}, done, func(c *Conn) { got <- c })
	defer func() { close(done); ln.Close() }()

	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-got, <-got
	select {
	case <-got:
		t.Fatal("a third connection was accepted with max 2 open")
	case <-time.After(100 * time.Millisecond): // proving a negative: bounded wait
	}
	first.Close()
	first.Close() // idempotent: one slot back, not two
	var third *Conn
	select {
	case third = <-got:
		defer third.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	c4, _ := net.Dial("tcp", ln.Addr().String())
	defer c4.Close()
	select {
	case <-got:
		t.Fatal("a double Close gave back two slots")
	case <-time.After(100 * time.Millisecond):
	}
	second.Close()
	select {
	case c := <-got:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the fourth connection was not accepted")
	}
	_ = clients
}

// NetConn hands out the concrete connection (splice needs *net.TCPConn).
func TestConnNetConn(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	got := make(chan *Conn, 1)
	go Serve(ln, serveFunc(func(c net.Conn) bool { got <- c.(*Conn); return true }))
	cc, _ := net.Dial("tcp", ln.Addr().String())
	defer cc.Close()
	c := <-got
	defer c.Close()
	if _, ok := c.NetConn().(*net.TCPConn); !ok {
		t.Fatalf("NetConn is %T", c.NetConn())
	}
}

type serveFunc func(net.Conn) bool

func (f serveFunc) ServeConn(c net.Conn) bool { return f(c) }
