package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func fastCfg() config.Upstream {
	return config.Upstream{ConnectTimeout: time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 4}
}

func get(t testing.TB, tr Transport, method, addr, path string, body io.Reader, length int64) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, body)
	if body == nil {
		req.Body = http.NoBody
	}
	req.ContentLength = length
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestFastTransportReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, b, r.ContentLength)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tr := NewFastTransport(fastCfg())
	defer tr.CloseIdleConnections()
	for i := range 20 {
		_, b := get(t, tr, "POST", addr, "/", strings.NewReader("abc"), 3)
		if b != "POST abc 3" {
			t.Fatalf("request %d: %q", i, b)
		}
		_, b = get(t, tr, "PUT", addr, "/", strings.NewReader("chunked!"), -1)
		if b != "PUT chunked! -1" {
			t.Fatalf("chunked request %d: %q", i, b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 40 sequential requests, want 1", n)
	}
}

// A pooled connection the upstream closed in the meantime is not the
// request's failure: it goes again on a fresh connection. (A hand-made
// server: closing an idle keep-alive connection on demand.)
func TestFastTransportRetriesStalePooledConnection(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(c)
				http.ReadRequest(br)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.Close() // keep-alive not honoured: the pooled copy is stale
			}()
		}
	}()
	tr := NewFastTransport(fastCfg())
	for i := range 5 {
		if _, b := get(t, tr, "GET", ln.Addr().String(), "/", nil, 0); b != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
}

// Raw upstream answers, framing edge cases included.
func TestFastTransportResponses(t *testing.T) {
	cases := []struct {
		name, raw, method string
		status            int
		body              string
		trailer           string
		err               bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", 200, "hello", "", false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n", "GET", 200, "abcde", "9", false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HEAD", 200, "", "", false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, "", "", false},
		{"interim 103 skipped", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", 200, "x", "", false},
		{"close-delimited", "HTTP/1.0 200 OK\r\n\r\nuntil close", "GET", 200, "until close", "", false},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "GET", 0, "", "", true},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", 0, "", "", true},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", "GET", 0, "", "", true},
	}
	for _, c := range cases {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			http.ReadRequest(bufio.NewReader(conn))
			io.WriteString(conn, c.raw)
			conn.Close()
		}()
		tr := NewFastTransport(fastCfg())
		req, _ := http.NewRequest(c.method, "http://"+ln.Addr().String()+"/", nil)
		resp, err := tr.RoundTrip(req)
		if c.err {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			ln.Close()
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || string(b) != c.body || resp.Trailer.Get("X-Sum") != c.trailer {
			t.Errorf("%s: %d %q %v trailer %v", c.name, resp.StatusCode, b, err, resp.Trailer)
		}
		ln.Close()
	}
}

func TestFastTransportNeverSplitsHeaders(t *testing.T) {
	var buf bytes.Buffer
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.Header["X-Evil"] = []string{"a\r\nInjected: yes"}
	req.Header["X-Fine"] = []string{"ok"}
	writeRequest(bufio.NewWriter(&buf), req)
	if strings.Contains(buf.String(), "Injected") || !strings.Contains(buf.String(), "X-Fine: ok") {
		t.Fatalf("request head:\n%s", buf.String())
	}
}

func TestFastTransportCancel(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for the handler
	tr := NewFastTransport(fastCfg())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	if _, err := tr.RoundTrip(req); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if ctx.Err() == nil {
		t.Fatal("returned before the deadline")
	}
}

// FuzzReadResponse: what an upstream sends is untrusted. Parsing a
// response head never panics, and a parsed response never has both a
// length and chunked framing.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, _ := http.NewRequest("GET", "http://x/", nil)
		resp, err := readResponse(bufio.NewReader(strings.NewReader(raw)), req)
		if err != nil {
			return
		}
		if len(resp.TransferEncoding) > 0 && resp.ContentLength >= 0 {
			t.Fatalf("both framings: %q", raw)
		}
		if resp.Header.Get("Content-Length") != "" && len(resp.TransferEncoding) > 0 {
			t.Fatalf("Content-Length kept next to chunked: %q", raw)
		}
	})
}

// BenchmarkTransport compares the lean transport with net/http's client on
// a real loopback upstream answering 1 KiB.
func BenchmarkTransport(b *testing.B) {
	body := strings.Repeat("x", 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := fastCfg()
	cfg.MaxIdlePerEndpoint = 64
	for _, c := range []struct {
		name string
		tr   Transport
	}{{"fast", NewFastTransport(cfg)}, {"net-http", NewHTTP1Transport(cfg)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
					resp, err := c.tr.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			c.tr.CloseIdleConnections()
		})
	}
}

// An endpoint that leaves the upstream leaves no connection open: its idle
// ones close at once, one still in use closes when its request ends.
func TestFastTransportForget(t *testing.T) {
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tr := NewFastTransport(fastCfg())
	get(t, tr, "GET", addr, "/", nil, 0) // one idle pooled connection

	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	inFlight, err := tr.RoundTrip(req) // takes the pooled one
	if err != nil {
		t.Fatal(err)
	}
	get(t, tr, "GET", addr, "/", nil, 0) // a second connection, now idle
	tr.Forget(addr)
	io.ReadAll(inFlight.Body) // the in-flight one finishes after the endpoint left
	inFlight.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // poll: the server sees the closes asynchronously
	}
	if n := open.Load(); n != 0 {
		t.Fatalf("%d connections still open to a forgotten endpoint", n)
	}
}
