package h1

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Regression (a false 200): a client that half-closes mid-upload made the
// body read fail and the request context end; the handler returned without
// a word and the server sent its default 200. A request whose body failed
// and that got no answer now gets none.
func TestNoDefault200AfterATruncatedBody(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // fails: the client stops after 3 of 10 bytes
	}))
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
	c.Conn.(interface{ CloseWrite() error }).CloseWrite()
	b, err := io.ReadAll(c.br)
	if err != nil || len(b) != 0 {
		t.Fatalf("got %q (%v), want the connection closed without an answer", b, err)
	}
}

// A malformed chunked body the handler said nothing about still gets the
// codec's 400.
func TestMalformedBodyStill400(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body) }))
	c := dial(t, addr)
	resp, body := c.do("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", "POST")
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid chunk size") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// Rewind takes back a response none of which reached the client: what the
// handler writes next is all the client sees.
func TestRewind(t *testing.T) {
	rewound := make(chan bool, 2)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-First", "1")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		ok := w.(interface{ Rewind() bool }).Rewind()
		rewound <- ok
		w.Header().Set("X-Second", "2")
		w.WriteHeader(502)
		io.WriteString(w, "replaced")
	}))
	c := dial(t, addr)
	resp, body := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
	if !<-rewound || resp.StatusCode != 502 || body != "replaced" || resp.Header.Get("X-First") != "" || resp.Header.Get("X-Second") != "2" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	// The connection is still in step: a second request works.
	if resp, body = c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); resp.StatusCode != 502 || body != "replaced" {
		t.Fatalf("second request: %d %q", resp.StatusCode, body)
	}
}

// Once bytes of the response reached the socket, Rewind refuses.
func TestRewindAfterFlushRefuses(t *testing.T) {
	rewound := make(chan bool, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		rewound <- w.(interface{ Rewind() bool }).Rewind()
	}))
	c := dial(t, addr)
	resp, _ := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
	if <-rewound || resp.StatusCode != 200 {
		t.Fatalf("rewound a flushed response (status %d)", resp.StatusCode)
	}
}

// A write deadline a handler set does not outlive its request on a
// keep-alive connection.
func TestWriteDeadlineClearedBetweenRequests(t *testing.T) {
	first := true
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			w.(interface{ SetWriteDeadline(time.Time) error }).SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		}
		io.WriteString(w, "ok")
	}))
	c := dial(t, addr)
	c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
	time.Sleep(100 * time.Millisecond) // let the first request's deadline pass (the condition under test)
	if resp, body := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("second request: %d %q", resp.StatusCode, body)
	}
}
