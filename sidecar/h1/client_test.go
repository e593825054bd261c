package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func testClient() *Client {
	return NewClient(ClientOptions{ConnectTimeout: time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 4,
		MaxInformational: 10, StreamIdleTimeout: time.Minute})
}

func roundTrip(t testing.TB, cl *Client, method, addr, path string, body io.Reader, length int64) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, body)
	if body == nil {
		req.Body = http.NoBody
	}
	req.ContentLength = length
	resp, err := cl.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func mustRoundTrip(t testing.TB, cl *Client, method, addr, path string, body io.Reader, length int64) (*http.Response, string) {
	t.Helper()
	resp, b, err := roundTrip(t, cl, method, addr, path, body, length)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// rawUpstream is a hand-made upstream: real servers cannot be made to
// break HTTP framing on demand. serve runs once per accepted connection.
func rawUpstream(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveConns(t, ln, serve)
}

// serveConns runs serve on every connection ln accepts, each on its own
// goroutine, until the test ends; it returns ln's address.
func serveConns(t testing.TB, ln net.Listener, serve func(c net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequests reads requests off c one by one, calling answer for each,
// until the connection ends or answer returns false.
func readRequests(c net.Conn, answer func(n int, r *http.Request) bool) {
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r.Body)
		if !answer(n, r) {
			return
		}
	}
}

func TestClientReusesConnections(t *testing.T) {
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
	cl := testClient()
	defer cl.CloseIdleConnections()
	for i := range 20 {
		_, b := mustRoundTrip(t, cl, "POST", addr, "/", strings.NewReader("abc"), 3)
		if b != "POST abc 3" {
			t.Fatalf("request %d: %q", i, b)
		}
		_, b = mustRoundTrip(t, cl, "PUT", addr, "/", strings.NewReader("chunked!"), -1)
		if b != "PUT chunked! -1" {
			t.Fatalf("chunked request %d: %q", i, b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 40 sequential requests, want 1", n)
	}
}

// A pooled connection the upstream closed in the meantime is not the
// request's failure: a GET goes again on a fresh connection.
func TestClientStalePooledConnection(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		readRequests(c, func(int, *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return false // keep-alive not honoured: the pooled copy is stale
		})
	})
	cl := testClient()
	for i := range 5 {
		if _, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0); b != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
}

// Regression (issue: a POST sent twice with retries off): an upstream that
// takes a request on a reused connection and then closes it without an
// answer may have acted on it. A bodyless POST used to be resent silently
// on a fresh connection; it must be sent once and fail.
func TestClientDoesNotResendNonIdempotent(t *testing.T) {
	var posts atomic.Int64
	addr := rawUpstream(t, func(c net.Conn) {
		readRequests(c, func(n int, r *http.Request) bool {
			if r.Method == "POST" {
				posts.Add(1)
			}
			if n == 1 {
				c.(*net.TCPConn).SetLinger(0)
				return false // took the second request, answers nothing
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	cl := testClient()
	mustRoundTrip(t, cl, "GET", addr, "/warm", nil, 0)
	_, _, err := roundTrip(t, cl, "POST", addr, "/charge", nil, 0)
	if err == nil {
		t.Fatal("the POST succeeded: it was sent again after the upstream took it")
	}
	if !Sent(err) {
		t.Errorf("error %v says nothing was sent", err)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the upstream saw the POST %d times, want 1", n)
	}
}

// Regression (response desync): an upstream that sends bytes on an idle
// pooled connection — the tail of a broken answer, arriving late — must not
// have them taken as the next request's answer. The connection is checked
// before reuse and dropped.
func TestClientDropsIdleConnectionWithUnsolicitedBytes(t *testing.T) {
	sent := make(chan struct{})
	var conns atomic.Int64
	addr := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		readRequests(c, func(n int, r *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
			if n == 0 && conns.Load() == 1 {
				time.Sleep(20 * time.Millisecond) // lands while the connection idles in the pool
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN")
				close(sent)
			}
			return true
		})
	})
	cl := testClient()
	mustRoundTrip(t, cl, "GET", addr, "/", nil, 0)
	<-sent
	// The unsolicited bytes must reach the sidecar's socket before the
	// next request; a short poll until the kernel has them.
	waitQuiet := time.Now().Add(2 * time.Second)
	for time.Now().Before(waitQuiet) {
		p := cl.pool(addr)
		if len(p.idle) == 1 {
			c := <-p.idle
			q := c.quiet()
			p.idle <- c
			if !q {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	_, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0)
	if b != "first" {
		t.Fatalf("second answer %q: the unsolicited bytes were taken as a response", b)
	}
	if conns.Load() != 2 {
		t.Fatalf("%d connections, want 2: the tainted one must be replaced", conns.Load())
	}
}

// Raw upstream answers, framing edge cases included. Every refused answer
// is a *ProtocolError.
func TestClientResponses(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("a", 1000)+"\r\n", 80) + "Content-Length: 0\r\n\r\n"
	many := "HTTP/1.1 200 OK\r\n" + strings.Repeat("a: 1\r\n", maxResponseFields+1) + "Content-Length: 0\r\n\r\n"
	interim := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 11) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	cases := []struct {
		name, raw, method string
		status            int
		body              string
		trailer           string
		protoErr          bool // a *ProtocolError from RoundTrip or the body
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", 200, "hello", "", false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n", "GET", 200, "abcde", "9", false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HEAD", 200, "", "", false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, "", "", false},
		{"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", "GET", 200, "x", "", false},
		{"interim 103 skipped", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", 200, "x", "", false},
		{"close-delimited", "HTTP/1.0 200 OK\r\n\r\nuntil close", "GET", 200, "until close", "", false},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "GET", 0, "", "", true},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", 0, "", "", true},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", "GET", 0, "", "", true},
		// Regressions: each was accepted, the first two with the
		// connection kept for the next request.
		{"both CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", 0, "", "", true},
		{"bytes beyond Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN", "GET", 200, "ok", "", true},
		{"body on a HEAD answer", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN", "HEAD", 0, "", "", true},
		{"body on a 204", "HTTP/1.1 204 No Content\r\n\r\nSTOLEN", "GET", 0, "", "", true},
		{"head larger than the limit", big, "GET", 0, "", "", true},
		{"too many header fields", many, "GET", 0, "", "", true},
		{"too many interim answers", interim, "GET", 0, "", "", true},
		{"101 without an upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "GET", 0, "", "", true},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "GET", 0, "", "", true},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", 0, "", "", true},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "GET", 200, "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := rawUpstream(t, func(conn net.Conn) {
				http.ReadRequest(bufio.NewReader(conn))
				io.WriteString(conn, c.raw)
				// Keep the connection open a moment: an early close would
				// hide framing errors behind EOF.
				conn.SetReadDeadline(time.Now().Add(time.Second))
				io.Copy(io.Discard, conn)
			})
			cl := NewClient(ClientOptions{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 4, MaxInformational: 10,
				MaxResponseHeaderBytes: 64 << 10})
			req, _ := http.NewRequest(c.method, "http://"+addr+"/", nil)
			resp, err := cl.RoundTrip(req)
			var b []byte
			if err == nil {
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			var pe *ProtocolError
			if c.protoErr {
				if !errors.As(err, &pe) {
					t.Fatalf("error %v, want a *ProtocolError", err)
				}
				if n := len(cl.pool(addr).idle); n != 0 {
					t.Fatalf("the connection of a refused answer was pooled")
				}
				return
			}
			if err != nil || resp.StatusCode != c.status || string(b) != c.body || resp.Trailer.Get("X-Sum") != c.trailer {
				t.Fatalf("%d %q %v trailer %v", resp.StatusCode, b, err, resp.Trailer)
			}
		})
	}
}

func TestClientNeverSplitsHeaders(t *testing.T) {
	var buf bytes.Buffer
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.Header["X-Evil"] = []string{"a\r\nInjected: yes"}
	req.Header["X-Nul"] = []string{"a\x00b"}
	req.Header["Bad Name"] = []string{"x"}
	req.Header["X-Fine"] = []string{"ok"}
	writeRequest(bufio.NewWriter(&buf), req)
	s := buf.String()
	if strings.Contains(s, "Injected") || strings.Contains(s, "\x00") || strings.Contains(s, "Bad Name") || !strings.Contains(s, "X-Fine: ok") {
		t.Fatalf("request head:\n%q", s)
	}
}

// Regression: CONNECT went out as "CONNECT / HTTP/1.1".
func TestClientConnectTarget(t *testing.T) {
	var buf bytes.Buffer
	req, _ := http.NewRequest("CONNECT", "http://10.0.0.1:80", nil)
	req.Host = "example.com:443"
	writeRequest(bufio.NewWriter(&buf), req)
	if line, _, _ := strings.Cut(buf.String(), "\r\n"); line != "CONNECT example.com:443 HTTP/1.1" {
		t.Fatalf("request line %q", line)
	}
}

// Regression: the trailers of a chunked request were dropped.
func TestClientSendsRequestTrailers(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Get("X-Checksum")
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", srv.URL+"/", pr)
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": nil}
	go func() {
		io.WriteString(pw, "data")
		req.Trailer.Set("X-Checksum", "abc") // as the server's body does at EOF
		pw.Close()
	}()
	resp, err := testClient().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := <-got; v != "abc" {
		t.Fatalf("trailer X-Checksum = %q at the upstream, want abc", v)
	}
}

// A failure reading the request body is the client's, reported as such,
// and says whether anything reached the upstream.
func TestClientRequestBodyError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	bad := &RequestError{Status: 400, Reason: reasonChunkSize}
	req, _ := http.NewRequest("POST", srv.URL+"/", io.MultiReader(strings.NewReader("abc"), errReader{bad}))
	req.ContentLength = -1
	_, err := testClient().RoundTrip(req)
	var be *RequestBodyError
	var re *RequestError
	if !errors.As(err, &be) || !errors.As(err, &re) {
		t.Fatalf("error %v, want a *RequestBodyError around the body's *RequestError", err)
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		t.Fatalf("a client's body error reported as the upstream's: %v", err)
	}

	short, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("abc"))
	short.ContentLength = 10
	_, err = testClient().RoundTrip(short)
	if !errors.As(err, &be) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestClientCancel(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for the handler
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	// The request's deadline is the connection's: the read may time out
	// a moment before the context's own timer fires.
	_, err := testClient().RoundTrip(req)
	if err == nil || time.Since(start) > 5*time.Second || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

// An upstream that stalls mid-body fails the read after the stream idle
// timeout, with a timeout error.
func TestClientStreamIdleTimeout(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c) // holds the connection open, sending nothing
	})
	cl := NewClient(ClientOptions{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 4, StreamIdleTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, _, err := roundTrip(t, cl, "GET", addr, "/", nil, 0)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

// An endpoint that leaves the upstream leaves no connection open: its idle
// ones close at once, one still in use closes when its request ends.
func TestClientForget(t *testing.T) {
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
	cl := testClient()
	mustRoundTrip(t, cl, "GET", addr, "/", nil, 0) // one idle pooled connection

	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	inFlight, err := cl.RoundTrip(req) // takes the pooled one
	if err != nil {
		t.Fatal(err)
	}
	mustRoundTrip(t, cl, "GET", addr, "/", nil, 0) // a second connection, now idle
	cl.Forget(addr)
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

// BenchmarkClient compares the client with net/http's on a real loopback
// upstream answering 1 KiB.
func BenchmarkClient(b *testing.B) {
	body := strings.Repeat("x", 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	type roundTripper interface {
		RoundTrip(*http.Request) (*http.Response, error)
		CloseIdleConnections()
	}
	for _, c := range []struct {
		name string
		rt   roundTripper
	}{
		{"h1", NewClient(ClientOptions{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 64, StreamIdleTimeout: time.Minute, MaxInformational: 10})},
		{"net-http", &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
					resp, err := c.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			c.rt.CloseIdleConnections()
		})
	}
}

// failingConn fails every write with a reset, as a pooled connection the
// upstream closed does. (A fake: a real peer cannot be made to fail the
// first write of a reused connection on demand, past the idle check.)
type failingConn struct{ net.Conn }

func (failingConn) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// A reused connection that fails before a byte was written is sent again
// on a fresh connection only for a request without a body: a body may
// already be partly read into the buffers, and sending it again from here
// would send it truncated. A request with a body fails as not sent, for
// the caller's retry gate.
func TestClientStaleWriteOnlyResendsBodyless(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cl := testClient()
	p := cl.pool("x:1")
	get, _ := http.NewRequest("GET", "http://x:1/", nil)
	if _, err := cl.exchange(context.Background(), p, newUpConn(failingConn{a}, 0), get, true); err != errStale {
		t.Fatalf("bodyless GET: %v, want errStale (resend on a fresh connection)", err)
	}
	post, _ := http.NewRequest("POST", "http://x:1/", strings.NewReader("payload"))
	_, err := cl.exchange(context.Background(), p, newUpConn(failingConn{a}, 0), post, true)
	if err == errStale || Sent(err) {
		t.Fatalf("POST with a body: %v, want a NotSentError for the caller", err)
	}
}

// A closed client (a retired upstream's) pools nothing: a request that
// outlives the close finishes, and its connection is closed after it.
func TestClientCloseStopsPooling(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	cl := testClient()
	addr := strings.TrimPrefix(srv.URL, "http://")
	done := make(chan string, 1)
	go func() {
		_, b, _ := roundTrip(t, cl, "GET", addr, "/", nil, 0)
		done <- b
	}()
	<-entered // the request holds its connection
	cl.Close()
	release <- struct{}{}
	if b := <-done; b != "ok" {
		t.Fatalf("the request running across Close got %q", b)
	}
	if n := len(cl.pool(addr).idle); n != 0 {
		t.Fatalf("%d connections pooled after Close", n)
	}
}
