package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// scopedCtx is a context whose deadline the client enforces itself
// (CancelScoper), as the proxy's request context is: no timer; Done is
// the scope's.
type scopedCtx struct {
	context.Context
	deadline time.Time
}

func (c scopedCtx) Deadline() (time.Time, bool)  { return c.deadline, true }
func (c scopedCtx) CancelScope() context.Context { return c.Context }

// A request's deadline is its connection's deadline, exactly: the next
// request on the same pooled connection gets its own, even when the last
// one's is close (the idle timeout's laziness must not keep it), and a
// request past its deadline fails with a timeout though nothing but the
// connection's deadline ends it.
func TestClientRequestDeadlineOnPooledConnection(t *testing.T) {
	delays := make(chan time.Duration, 4)
	addr := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			time.Sleep(<-delays) // the upstream's slowness under test, not a wait for state
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	cl := NewClient(ClientOptions{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 4, StreamIdleTimeout: 5 * time.Minute})
	do := func(timeout, delay time.Duration) error {
		delays <- delay
		ctx := scopedCtx{Context: context.Background(), deadline: time.Now().Add(timeout)}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		resp, err := cl.RoundTrip(req)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return err
	}
	if err := do(400*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	// Its connection is pooled with a deadline ~400 ms out. This request
	// may take 600 ms of its 2 s.
	if err := do(2*time.Second, 600*time.Millisecond); err != nil {
		t.Fatalf("second request failed at the first one's deadline: %v", err)
	}
	start := time.Now()
	err := do(200*time.Millisecond, time.Second)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("slow answer: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("the 200 ms deadline ended the request after %v", d)
	}
}

// Cancelling a CancelScoper's scope poisons the connection at once.
func TestClientCancelScope(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	addr := rawUpstream(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		select {
		case <-hang:
		case <-time.After(10 * time.Second):
		}
	})
	scope, cancel := context.WithCancel(context.Background())
	ctx := scopedCtx{Context: scope, deadline: time.Now().Add(time.Minute)}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := testClient().RoundTrip(req); err == nil {
		t.Fatal("no error after the scope was cancelled")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

// A request deadline that starts after the idle one (a timeout longer
// than stream_idle_timeout) becomes the connection's deadline, exactly,
// once the idle deadline would pass it — and stays so.
func TestArmSwitchesToTheRequestDeadlineWhenItComesFirst(t *testing.T) {
	nc1, nc2 := net.Pipe()
	defer nc1.Close()
	defer nc2.Close()
	c := newUpConn(nc1, 100*time.Millisecond)
	ctx := scopedCtx{Context: context.Background(), deadline: time.Now().Add(150 * time.Millisecond)}
	c.begin(ctx)
	defer c.endWatch()
	if c.dueFirst || c.armed.Load() == c.due {
		t.Fatal("the request's deadline armed while the idle one came first")
	}
	deadline := time.Now().Add(testTimeout)
	for !c.dueFirst {
		if time.Now().After(deadline) {
			t.Fatal("the request's deadline never came first")
		}
		c.arm() // what every read and write does
	}
	if c.armed.Load() != c.due {
		t.Fatalf("armed %d, want the request's deadline %d", c.armed.Load(), c.due)
	}
	c.arm()
	if c.armed.Load() != c.due {
		t.Fatal("a later arm moved the request's deadline")
	}
}
