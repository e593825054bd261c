package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tcpEcho is a real loopback TCP echo server that counts the connections
// it holds open.
type tcpEcho struct {
	ln     net.Listener
	active atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (e *tcpEcho) addr() string { return e.ln.Addr().String() }

func newTCPEcho(t *testing.T) *tcpEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &tcpEcho{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.active.Add(1)
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				io.Copy(c, c)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
				e.active.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

// tcpYAML renders a one-upstream protocol tcp config.
func tcpYAML(endpoints ...string) string {
	return fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
upstreams:
  - name: db
    listen: 127.0.0.1:0
    protocol: tcp
    lb: least_conn
    connect_timeout: 500ms
    endpoints: ["%s"]
`, strings.Join(endpoints, `", "`))
}

// tcpRoundTrip writes msg on c and checks the echo, within 5s.
func tcpRoundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, []byte(msg)) {
		return fmt.Errorf("echo %q, sent %q", got, msg)
	}
	return nil
}

// 30 long-lived connections through the real binary spread 10/10/10 over
// three echo endpoints (least_conn counts open connections), and a closed
// endpoint among them is skipped: every connection echoes, the connect
// failures are retried elsewhere, and the endpoint ends up ejected.
func TestTCPLeastConnSkipsClosedEndpoint(t *testing.T) {
	echoes := []*tcpEcho{newTCPEcho(t), newTCPEcho(t), newTCPEcho(t)}
	dead := closedAddr(t)
	p := startSidecar(t, tcpYAML(echoes[0].addr(), dead, echoes[1].addr(), echoes[2].addr()))
	addr := p.listen["db"]
	if addr == "" {
		t.Fatal("no listener logged for upstream db")
	}

	conns := make([]net.Conn, 30)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		if err := tcpRoundTrip(c, fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	for _, e := range echoes {
		if n := e.active.Load(); n < 9 || n > 11 {
			t.Fatalf("endpoint %s holds %d connections, want 10±1 (all: %d %d %d)", e.addr(), n,
				echoes[0].active.Load(), echoes[1].active.Load(), echoes[2].active.Load())
		}
		if v := p.endpointView("db", e.addr()); v.ActiveRequests != e.active.Load() {
			t.Fatalf("admin shows %d active on %s, the backend holds %d", v.ActiveRequests, e.addr(), e.active.Load())
		}
	}
	v := p.endpointView("db", dead)
	if !v.Ejected || v.EjectionReason != "consecutive_local_failure" || v.ActiveRequests != 0 {
		t.Fatalf("closed endpoint: %+v, want ejected for consecutive_local_failure", v)
	}
	// Every connection still works after the others were opened.
	for i, c := range conns {
		if err := tcpRoundTrip(c, fmt.Sprintf("again %d", i)); err != nil {
			t.Fatalf("connection %d, second round: %v", i, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 10*time.Second, func() bool {
		for _, e := range echoes {
			if e.active.Load() != 0 || p.endpointView("db", e.addr()).ActiveRequests != 0 {
				return false
			}
		}
		return true
	}, "every pair to close at the endpoints and in /upstreams")
}

// SIGTERM with a pair open: the listener stops accepting, the open pair
// keeps relaying, and the process exits 0 as soon as the client closes it.
func TestTCPDrainLetsOpenPairFinish(t *testing.T) {
	echo := newTCPEcho(t)
	p := startSidecar(t, tcpYAML(echo.addr()))
	addr := p.listen["db"]
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := tcpRoundTrip(c, "before"); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		status, _, _ := getBodyNoFail("http://" + p.admin + "/ready")
		return status == 503
	}, "/ready to answer 503 while draining")
	if err := tcpRoundTrip(c, "during the drain"); err != nil {
		t.Fatalf("the open pair broke during the drain: %v", err)
	}
	select {
	case <-p.exited:
		t.Fatal("outrigger exited while a pair was open")
	default:
	}
	c.Close()
	select {
	case <-p.exited:
	case <-time.After(8 * time.Second):
		t.Fatal("outrigger did not exit once the last pair closed")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
