package h1

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client that leaves while its request waits on the upstream ends the
// upstream exchange through the server connection's watch (no
// registration per request): the upstream sees its connection closed.
func TestClientLeavingPoisonsUpstreamThroughTheWatch(t *testing.T) {
	upstreamClosed := make(chan struct{})
	arrived := make(chan struct{}, 1)
	addr := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		arrived <- struct{}{}
		c.SetReadDeadline(time.Now().Add(testTimeout))
		var b [1]byte
		c.Read(b[:]) // blocks until the sidecar side closes (or the deadline)
		close(upstreamClosed)
	})
	cl := testClient()
	usedWatch := make(chan bool, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := scopedCtx{Context: r.Context(), deadline: time.Now().Add(time.Minute)}
		out, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		// Look at the exchange's upstream connection while it waits.
		go func() {
			<-arrived
			usedWatch <- watchOf(r.Context()).hasTarget()
		}()
		if _, err := cl.RoundTrip(out); err == nil {
			t.Error("the exchange succeeded though the client left")
		}
	})
	_, srvAddr := startServer(t, handler)
	c := dial(t, srvAddr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if !<-usedWatch {
		t.Fatal("the upstream connection is not in the server connection's watch")
	}
	c.Close()
	select {
	case <-upstreamClosed:
	case <-time.After(testTimeout):
		t.Fatal("the upstream connection stayed open after the client left")
	}
}

func (w *connWatch) hasTarget() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.target != nil
}

// A context with a cancellation of its own (per_try_timeout's child) is
// not the connection's: begin watches it itself, and its cancel poisons.
func TestBeginWatchesAContextWithItsOwnCancel(t *testing.T) {
	w := &connWatch{}
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	w.done = base.Done()
	connCtx := context.WithValue(base, watchKey{}, w)
	child, cancel := context.WithCancel(connCtx)
	nc1, nc2 := net.Pipe()
	defer nc2.Close()
	c := newUpConn(nc1, 0)
	c.begin(child)
	if c.watch != nil || c.stopWatch == nil {
		t.Fatal("a child context with its own cancel used the connection's watch")
	}
	cancel()
	deadline := time.Now().Add(testTimeout)
	for {
		c.mu.Lock()
		p := c.poisoned
		c.mu.Unlock()
		if p {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cancel did not poison the connection")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	if c.endWatch() {
		t.Fatal("endWatch reports a clean end after the context was cancelled")
	}

	c2 := newUpConn(nc1, 0)
	c2.begin(connCtx)
	if c2.watch != w {
		t.Fatal("the connection's own context did not use its watch")
	}
	if !c2.endWatch() || w.hasTarget() {
		t.Fatal("endWatch did not clear the watch")
	}
}
