package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// limits.max_connections: with that many connections open on a listener,
// the next one is not refused but waits in the kernel's backlog, and is
// served as soon as one of the others closes.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	be := newInstance(t, "ok", 0)
	p := startSidecar(t, hardeningYAML("limits:\n  max_connections: 3\n", upstreamBlock("payments", "", be.addr())))
	addr := p.listen["payments"]

	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// Each of the three is served (and so counted) before the fourth
	// comes: a request on each, kept alive.
	for i, c := range held {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}

	fourth, err := net.Dial("tcp", addr) // the kernel completes the handshake: the backlog
	if err != nil {
		t.Fatalf("the fourth connection was refused, want it to wait: %v", err)
	}
	defer fourth.Close()
	io.WriteString(fourth, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(fourth)
	fourth.SetReadDeadline(time.Now().Add(300 * time.Millisecond)) // proving a negative: a bounded wait
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a fourth connection was served with max_connections 3 open")
	}

	held[0].Close()
	fourth.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot freed, the waiting connection got %v %v", resp, err)
	}
}
