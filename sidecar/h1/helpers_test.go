package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every blocking step of a test; tests wait on channels
// and deadlines, never on sleeps.
const testTimeout = 10 * time.Second

// badRequests records OnBadRequest calls.
type badRequests struct {
	mu    sync.Mutex
	calls []string
}

func (b *badRequests) record(status int, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, http.StatusText(status)+": "+reason)
}

func (b *badRequests) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

// startServer serves h on a loopback listener until the test ends.
func startServer(t *testing.T, h http.Handler, opts ...func(*Server)) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	for _, o := range opts {
		o(s)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s, l.Addr().String()
}

type client struct {
	t *testing.T
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response and its whole body.
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// expectEOF checks that the server closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	var buf [1]byte
	n, err := c.br.Read(buf[:])
	if err != io.EOF {
		c.t.Fatalf("read after response = %d, %v; want EOF", n, err)
	}
}

// do sends one request and reads its response.
func (c *client) do(raw, method string) (*http.Response, string) {
	c.t.Helper()
	c.send(raw)
	return c.response(method)
}

// echoHandler answers with the method, target, host and body it received.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		buf.WriteString(r.Method + " " + r.RequestURI + " " + r.Host + " " + string(b))
		for _, k := range sortedKeys(r.Trailer) {
			buf.WriteString(" trailer:" + k + "=" + strings.Join(r.Trailer[k], ","))
		}
		w.Write(buf.Bytes())
	})
}

func sortedKeys(h http.Header) []string {
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// waitFor polls cond until it holds or the test times out. It is for state
// that has no event to wait on (ActiveConns after a close).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func netListen() (net.Listener, error)      { return net.Listen("tcp", "127.0.0.1:0") }
func netDial(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }
