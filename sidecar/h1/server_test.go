package h1

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeepAliveSequential(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	for i := range 3 {
		resp, body := c.do(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i), "GET")
		if want := fmt.Sprintf("GET /%d h ", i); body != want || resp.Close {
			t.Fatalf("request %d: body %q close %v, want %q", i, body, resp.Close, want)
		}
	}
}

func TestPipelined(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	c.send("GET /0 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
	for i, want := range []string{"GET /0 h ", "POST /1 h abc", "POST /2 h x"} {
		if _, body := c.response("GET"); body != want {
			t.Fatalf("response %d: %q, want %q", i, body, want)
		}
	}
}

func TestHTTP10(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	t.Run("close by default", func(t *testing.T) {
		c := dial(t, addr)
		resp, body := c.do("GET /a HTTP/1.0\r\n\r\n", "GET")
		if body != "GET /a  " || !resp.Close {
			t.Fatalf("body %q close %v", body, resp.Close)
		}
		c.expectEOF()
	})
	t.Run("keep-alive", func(t *testing.T) {
		c := dial(t, addr)
		for range 2 {
			resp, _ := c.do("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET")
			if resp.Close || resp.Header.Get("Connection") != "keep-alive" || resp.ContentLength != 8 {
				t.Fatalf("close %v Connection %q CL %d", resp.Close, resp.Header.Get("Connection"), resp.ContentLength)
			}
		}
	})
}

func TestConnectionClose(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	resp, _ := c.do("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET")
	if !resp.Close {
		t.Fatal("no Connection: close")
	}
	c.expectEOF()
}

func TestRequestBodies(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	_, body := c.do("POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "POST")
	if body != "POST /cl h hello" {
		t.Errorf("CL body: %q", body)
	}
	_, body = c.do("POST /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
		"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 42\r\nX-Other: a\r\n\r\n", "POST")
	if want := "POST /ch h hello 0123456789 trailer:X-Other=a trailer:X-Sum=42"; body != want {
		t.Errorf("chunked body: %q, want %q", body, want)
	}
}

func TestExpectContinue(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	c := dial(t, addr)
	c.send("PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim line %q %v", line, err)
	}
	if blank, _ := c.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("interim not followed by empty line: %q", blank)
	}
	c.send("abc")
	resp, body := c.response("PUT")
	if resp.StatusCode != 200 || body != "PUT /e h abc" || resp.Close {
		t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
	}

	// A handler that answers without reading: no 100, and the connection
	// closes because the body may never come.
	_, addr = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	c = dial(t, addr)
	resp, _ = c.do("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "PUT")
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
	c.expectEOF()
}

func TestUnreadBodyDrained(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path) // never reads the body
	}))
	c := dial(t, addr)
	c.send("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nGET /x HTT" +
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n13\r\nGET /y HTTP/1.1\r\n\r\n\r\n0\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"/a", "/b", "/c"} {
		resp, body := c.response("GET")
		if body != want || resp.Close {
			t.Fatalf("got %q close %v, want %q", body, resp.Close, want)
		}
	}
}

func TestLargeUnreadBodyCloses(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := dial(t, addr)
	c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", 1<<20))
	resp, _ := c.response("POST")
	if !resp.Close {
		t.Fatal("want Connection: close for a 1 MiB unread body")
	}
}

func TestClientDisconnectCancelsContext(t *testing.T) {
	for _, withBody := range []bool{false, true} {
		t.Run(fmt.Sprint("body=", withBody), func(t *testing.T) {
			entered := make(chan struct{})
			cancelled := make(chan error, 1)
			_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				close(entered)
				<-r.Context().Done()
				cancelled <- r.Context().Err()
			}))
			c := dial(t, addr)
			if withBody {
				c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
			} else {
				c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			}
			<-entered
			c.Close()
			if err := <-cancelled; err != context.Canceled {
				t.Fatalf("ctx err %v", err)
			}
		})
	}
}

func TestPipelinedByteKeptByBackgroundRead(t *testing.T) {
	// The second request arrives while the first handler runs, so the
	// background read takes its first byte; it must not be lost.
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		if r.URL.Path == "/slow" {
			<-release
		}
		if r.Context().Err() != nil {
			t.Errorf("%s: context cancelled by a pipelined byte", r.URL.Path)
		}
		io.WriteString(w, r.URL.Path)
	}))
	c := dial(t, addr)
	c.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	c.send("G")
	c.send("ET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	close(release)
	for _, want := range []string{"/slow", "/next"} {
		if _, body := c.response("GET"); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

func TestHijack(t *testing.T) {
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n') // bytes the client sent right after the head
		brw.WriteString("echo:" + line)
		brw.Flush()
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v %v", resp, err)
	}
	if line, _ := c.br.ReadString('\n'); line != "echo:ping\n" {
		t.Fatalf("got %q", line)
	}
	waitFor(t, "hijacked conn untracked", func() bool { return s.ActiveConns() == 0 })
}

func TestHandlerPanic(t *testing.T) {
	var logs lockedBuffer
	var n atomic.Int32
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			panic("boom")
		}
		io.WriteString(w, "ok")
	}), func(s *Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := http.ReadResponse(c.br, nil); err == nil {
		t.Fatal("got a response from a panicking handler")
	}
	c = dial(t, addr)
	if _, body := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); body != "ok" {
		t.Fatalf("server broken after panic: %q", body)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %q", logs.String())
	}
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestIdleTimeoutAndReadHeaderTimeout(t *testing.T) {
	s, addr := startServer(t, echoHandler(), func(s *Server) {
		s.IdleTimeout = 50 * time.Millisecond
		s.ReadHeaderTimeout = 50 * time.Millisecond
	})
	idle := dial(t, addr)
	partial := dial(t, addr)
	partial.send("GET / HTTP/1.1\r\n")
	idle.expectEOF()
	partial.expectEOF()
	waitFor(t, "conns closed", func() bool { return s.ActiveConns() == 0 })
}

func TestRemoteAddrAndLocalAddr(t *testing.T) {
	got := make(chan string, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		got <- r.RemoteAddr + " " + la.String()
	}))
	c := dial(t, addr)
	c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
	if want := c.LocalAddr().String() + " " + addr; <-got != want {
		t.Errorf("want %q", want)
	}
}
