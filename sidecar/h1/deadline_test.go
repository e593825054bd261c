package h1

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// deadlineCounter counts the read deadlines set on a connection.
type deadlineCounter struct {
	net.Conn
	reads atomic.Int64
}

func (c *deadlineCounter) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

// serveCounted serves one connection through s and returns the client's
// end and the counter.
func serveCounted(t *testing.T, s *Server) (*client, *deadlineCounter) {
	t.Helper()
	srvSide, cliSide := net.Pipe()
	dc := &deadlineCounter{Conn: srvSide}
	if !s.ServeConn(dc) {
		t.Fatal("ServeConn refused")
	}
	t.Cleanup(func() { s.Close() })
	c := &client{t: t, Conn: cliSide}
	c.br = bufio.NewReader(cliSide)
	cliSide.SetDeadline(time.Now().Add(testTimeout))
	return c, dc
}

// Keep-alive requests whose heads arrive whole set no read deadline each:
// the idle one is kept lazily and the head one is not needed. A head that
// arrives in pieces still gets ReadHeaderTimeout.
func TestKeepAliveRequestsSetNoDeadlineEach(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		IdleTimeout: time.Minute, ReadHeaderTimeout: 200 * time.Millisecond}
	c, dc := serveCounted(t, s)
	for i := range 50 {
		if _, body := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); body != "ok" {
			t.Fatalf("request %d: %q", i, body)
		}
	}
	if n := dc.reads.Load(); n > 2 {
		t.Fatalf("%d read deadlines set for 50 keep-alive requests, want at most 2", n)
	}

	// Half a head, then nothing: ReadHeaderTimeout closes the connection.
	c.send("GET / HTTP/1.1\r\nHo")
	start := time.Now()
	c.expectEOF()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a stalled head held the connection for %v", d)
	}
}
