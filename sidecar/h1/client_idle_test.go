package h1

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An upstream that closed an idle pooled connection (its FIN arrived) is
// noticed before the connection is used: a bodyless POST — which is never
// sent twice — goes on a fresh connection and succeeds, instead of being
// written into the closed one and failing.
func TestClientNoticesPooledConnectionClosedByUpstream(t *testing.T) {
	var conns atomic.Int64
	closed := make(chan struct{}, 4)
	addr := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		readRequests(c, func(int, *http.Request) bool {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			return false // then close: the client pooled a connection that is gone
		})
		c.Close()
		closed <- struct{}{}
	})
	cl := testClient()
	for i := range 3 {
		if _, b := mustRoundTrip(t, cl, "POST", addr, "/", strings.NewReader(""), 0); b != "ok" {
			t.Fatalf("POST %d: %q", i, b)
		}
		select {
		case <-closed:
		case <-time.After(testTimeout):
			t.Fatal("upstream did not close")
		}
		// The FIN is on its way through the loopback; give it a moment
		// to land before the next request takes the pooled connection.
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if !pooledQuiet(cl, addr) {
				break
			}
			time.Sleep(time.Millisecond) // polling with a deadline
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 POSTs, want 3 (one each)", n)
	}
}

// pooledQuiet reports whether the idle pooled connection to addr (if any)
// still looks usable, without taking it out of the pool.
func pooledQuiet(cl *Client, addr string) bool {
	p := cl.pool(addr)
	select {
	case c := <-p.idle:
		q := c.quiet()
		p.idle <- c
		return q
	default:
		return false
	}
}
