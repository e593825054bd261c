package tcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits (within 5s) for the n-th access-log line and decodes it.
func waitLine(t *testing.T, out *syncBuffer, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.String() != "" && len(lines) >= n {
			var m map[string]any
			if err := json.Unmarshal([]byte(lines[n-1]), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line %d within 5s: %q", n, out.String())
		}
		time.Sleep(time.Millisecond) // polling the writer's output, bounded by the deadline
	}
}

func newSink(t *testing.T) (*accesslog.Sink, *syncBuffer) {
	t.Helper()
	sink := accesslog.NewSink()
	out := &syncBuffer{}
	l := accesslog.NewWriter(out, accesslog.FormatJSON, accesslog.Options{})
	sink.Swap(l)
	t.Cleanup(func() { l.Close(context.Background()) })
	return sink, out
}

// One line per connection, when it ends: the bytes each way, the
// endpoint, no method, path or status.
func TestAccessLogOneLinePerConnection(t *testing.T) {
	sink, out := newSink(t)
	be := newEcho(t)
	p := startProxy(t, newUpstream(t, nil, be.addr()), Options{AccessLog: sink})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello world")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("echo %q, %v", got, err)
	}
	line := waitLine(t, out, 1)
	want := map[string]any{"upstream": "db", "listener": "", "route": "", "method": "", "path": "", "status": float64(0),
		"bytes_in": float64(11), "bytes_out": float64(11), "endpoint": be.addr(), "retries": float64(0), "error": "",
		"trace_id": "", "client": c.LocalAddr().String()}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
}

// A connection that could not be connected logs the code it was refused
// with and the last endpoint tried.
func TestAccessLogConnectFailure(t *testing.T) {
	sink, out := newSink(t)
	dead := closedAddr(t)
	p := startProxy(t, newUpstream(t, func(u *config.Upstream) { u.Retries.Attempts = 0 }, dead), Options{AccessLog: sink})
	// The sidecar resets the connection right after accepting it: the
	// dial itself may already see the reset.
	if c, err := net.Dial("tcp", p.addr); err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
		c.Close()
	}
	line := waitLine(t, out, 1)
	if line["error"] != "connect_failure" || line["endpoint"] != dead || line["bytes_in"] != float64(0) || line["status"] != float64(0) {
		t.Errorf("line %v", line)
	}
}
