package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Review of 21a5bf9 (one context per client connection instead of one per
// request; the timer-less timeout; pooled outbound requests): an
// attacker's and a broken upstream's view.

// connLifeCtx is a request context as the sidecar's HTTP/1.1 server now
// gives it: the client connection's, alive after the request (it ends only
// with the connection). It counts the cancellations registered on it
// (context.WithCancel and context.AfterFunc register through its AfterFunc
// method) that are still outstanding.
type connLifeCtx struct {
	context.Context
	done chan struct{}
	live atomic.Int64
}

func newConnLifeCtx() *connLifeCtx {
	return &connLifeCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *connLifeCtx) Done() <-chan struct{} { return c.done }

func (c *connLifeCtx) AfterFunc(func()) func() bool {
	c.live.Add(1)
	var stopped atomic.Bool
	return func() bool {
		if stopped.CompareAndSwap(false, true) {
			c.live.Add(-1)
			return true
		}
		return false
	}
}

// TestReviewPerTryTimeoutLeavesNothingOnTheConnectionContext: with
// per_try_timeout set and `timeout: 0`, each try's context is a child of the
// request's context, released (startPerTry, headArrived) only when that
// context ends. The request's context used to end with the request; it is
// now the client connection's, so every request on a keep-alive connection
// leaves a child context and an AfterFunc registration on it until the
// client hangs up: memory grows without limit on a long-lived connection.
func TestReviewPerTryTimeoutLeavesNothingOnTheConnectionContext(t *testing.T) {
	ep := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfg := config.Upstream{
		Name: "payments", LB: "round_robin", ConnectTimeout: time.Second,
		Timeout: 0, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 8,
		Retries: config.Retries{PerTryTimeout: 5 * time.Second},
	}
	up := staticUpstream(t, cfg, ep)
	tr := newClient(cfg)
	t.Cleanup(tr.CloseIdleConnections)
	h := NewHandler(up, tr, Options{})

	conn := newConnLifeCtx()
	const requests = 20
	for i := 0; i < requests; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://payments/x", nil).WithContext(conn)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i, rec.Code)
		}
	}
	if n := conn.live.Load(); n != 0 {
		t.Errorf("after %d requests, %d registrations remain on the connection's context (per request: %d); want 0",
			requests, n, n/requests)
	}
}

// TestReviewOneClientOneUpstreamConnectionNothingCarriesOver: COVERAGE (held
// on review). One client connection to the sidecar's own server, one
// upstream connection, answers of every framing in turn — a 1xx before a
// chunked answer with a trailer, a HEAD answer announcing a length, 204,
// 503 with a body, 304, then a plain one. The reused response, header map,
// body reader (upstream side) and request, header store and
// ResponseWriter (client side) must carry no status, header, trailer or
// byte from one answer into the next, and the upstream connection must
// serve them all.
func TestReviewOneClientOneUpstreamConnectionNothingCarriesOver(t *testing.T) {
	var accepted atomic.Int64
	answers := []string{
		"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\nX-Only-0: a\r\n\r\n5\r\nzero!\r\n0\r\nX-T: t0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Only-1: b\r\n\r\n", // HEAD
		"HTTP/1.1 204 No Content\r\nX-Only-2: c\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nX-Only-3: d\r\n\r\nbusy",
		"HTTP/1.1 304 Not Modified\r\nX-Only-4: e\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Only-5: f\r\n\r\nlast",
	}
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		accepted.Add(1)
		for _, a := range answers {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, a)
		}
	})
	addr, _ := h1Front(t, limitsCfg(), time.Minute, be)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	want := []struct {
		method, body string
		status       int
		trailer      string
	}{
		{"GET", "zero!", 200, "t0"}, {"HEAD", "", 200, ""}, {"GET", "", 204, ""},
		{"POST", "busy", 503, ""}, {"GET", "", 304, ""}, {"GET", "last", 200, ""},
	}
	for i, w := range want {
		head := w.method + " /" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: payments\r\nTE: trailers\r\nX-Client-" + strconv.Itoa(i) + ": v\r\n"
		if w.method == "POST" {
			head += "Content-Length: 3\r\n\r\nabc"
		} else {
			head += "\r\n"
		}
		io.WriteString(c, head)
		resp, err := http.ReadResponse(br, &http.Request{Method: w.method})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != w.status || string(b) != w.body {
			t.Fatalf("answer %d: %d %q %v, want %d %q", i, resp.StatusCode, b, err, w.status, w.body)
		}
		if got := resp.Trailer.Get("X-T"); got != w.trailer {
			t.Errorf("answer %d: trailer X-T %q, want %q", i, got, w.trailer)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Only-") && k != "X-Only-"+strconv.Itoa(i) || k == "X-Interim" || k == "X-T" {
				t.Errorf("answer %d carries %s: %q", i, k, resp.Header[k])
			}
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d upstream connections for %d sequential answers, want 1", n, len(want))
	}
}
