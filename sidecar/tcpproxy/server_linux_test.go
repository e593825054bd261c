package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// hangingAddr is a loopback address where a connect hangs: a listener with
// a backlog of 0 whose one queue slot is taken, so Linux drops further SYNs.
func hangingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr // the queue is full: this connect hung
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listener's accept queue")
	return ""
}

// Shutdown's deadline cancels a connect that is still in progress.
func TestShutdownCancelsConnect(t *testing.T) {
	up := newUpstream(t, func(c *config.Upstream) { c.ConnectTimeout = time.Minute }, hangingAddr(t))
	p := startProxy(t, up, Options{})
	dial(t, p.addr)
	waitFor(t, 5*time.Second, func() bool { return p.ActiveConns() == 1 }, "the connection to be accepted")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v with a connect in progress", d)
	}
	if p.ActiveConns() != 0 {
		t.Fatalf("ActiveConns = %d after Shutdown", p.ActiveConns())
	}
	if f := up.Snapshot().Members[0].Endpoint.Failures(); f != 0 {
		t.Fatalf("a cancelled connect counted as %d endpoint failures", f)
	}
}
