package h1

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawHead reads one response head verbatim.
func (c *client) rawHead() string {
	c.t.Helper()
	var sb strings.Builder
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading head: %q %v", sb.String()+line, err)
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String()
		}
	}
}

func (c *client) readN(n int) string {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return string(b)
}

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name    string
		req     string
		handler http.HandlerFunc
		head    string // exact head expected
		body    string // exact bytes expected after the head
		closes  bool
	}{
		{
			name:    "empty handler",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			head:    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "small body gets Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("A-First", "1")
				io.WriteString(w, "hello")
			},
			head: "HTTP/1.1 200 OK\r\nA-First: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
			body: "hello",
		},
		{
			name: "handler Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5000")
				w.WriteHeader(201)
				io.WriteString(w, big)
			},
			head: "HTTP/1.1 201 Created\r\nContent-Length: 5000\r\n\r\n",
			body: big,
		},
		{
			name: "large body is chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, big)
			},
			head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "1388\r\n" + big + "\r\n0\r\n\r\n",
		},
		{
			name: "trailers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Declared")
				io.WriteString(w, "ab")
				w.(http.Flusher).Flush()
				io.WriteString(w, "c")
				w.Header().Set("X-Declared", "1")
				w.Header().Set(http.TrailerPrefix+"x-late", "2")
			},
			head: "HTTP/1.1 200 OK\r\nTrailer: X-Declared\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "2\r\nab\r\n1\r\nc\r\n0\r\nX-Declared: 1\r\nX-Late: 2\r\n\r\n",
		},
		{
			name: "trailer-only small body stays chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ab")
				w.Header().Set(http.TrailerPrefix+"X-Sum", "3")
			},
			head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: "2\r\nab\r\n0\r\nX-Sum: 3\r\n\r\n",
		},
		{
			name: "HEAD keeps Content-Length, sends no body",
			req:  "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, "0123456789")
			},
			head: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
		},
		{
			name: "HEAD without length",
			req:  "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, big)
			},
			head: "HTTP/1.1 200 OK\r\n\r\n",
		},
		{
			name: "204 strips framing",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				w.Header().Set("Transfer-Encoding", "chunked")
				w.WriteHeader(204)
				if _, err := io.WriteString(w, "abc"); err != http.ErrBodyNotAllowed {
					t.Errorf("Write on 204: %v", err)
				}
			},
			head: "HTTP/1.1 204 No Content\r\n\r\n",
		},
		{
			name: "304 keeps Content-Length, no body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				w.Header().Set("Etag", `"x"`)
				w.WriteHeader(304)
			},
			head: "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nContent-Length: 3\r\n\r\n",
		},
		{
			name: "103 early hints then 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</s.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				io.WriteString(w, "ok")
			},
			head: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
			body: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		},
		{
			name: "HTTP/1.0 close-delimited",
			req:  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusEarlyHints) // not sent to 1.0 clients
				io.WriteString(w, big)
			},
			head:   "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
			body:   big,
			closes: true,
		},
		{
			name: "hop-by-hop from handler stripped, close honoured",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				w.Header().Set("Keep-Alive", "timeout=5")
			},
			head:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			closes: true,
		},
		{
			name: "response splitting values dropped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["X-Bad"] = []string{"a\r\nSet-Cookie: x=y", "ok", "b\x00"}
				w.Header()["Bad Name"] = []string{"v"}
			},
			head: "HTTP/1.1 200 OK\r\nX-Bad: ok\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "invalid code is 500, second WriteHeader ignored",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(42)
				w.WriteHeader(200)
			},
			head: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "short Content-Length closes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				if _, err := io.WriteString(w, "abcdef"); !errors.Is(err, http.ErrContentLength) {
					t.Errorf("overlong write: %v", err)
				}
				io.WriteString(w, "abc")
			},
			head:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
			body:   "abc",
			closes: true,
		},
		{
			name: "101 without hijack",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", "x")
				w.WriteHeader(101)
				io.WriteString(w, "raw bytes")
			},
			head:   "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n",
			body:   "raw bytes",
			closes: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startServer(t, tt.handler)
			c := dial(t, addr)
			req := tt.req
			if req == "" {
				req = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
			}
			c.send(req)
			if head := c.rawHead(); head != tt.head {
				t.Fatalf("head\n%q\nwant\n%q", head, tt.head)
			}
			if got := c.readN(len(tt.body)); got != tt.body {
				t.Fatalf("body\n%q\nwant\n%q", got, tt.body)
			}
			if tt.closes {
				c.expectEOF()
				return
			}
			// The connection is still usable, so framing was exact.
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			c.rawHead()
		})
	}
}

func TestFlushStreams(t *testing.T) {
	next := make(chan struct{})
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-next // the client must see "first" before the handler goes on
		io.WriteString(w, "second")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first chunk %q %v", first, err)
	}
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q %v", rest, err)
	}
}

func TestResponseControllerDeadlines(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		if err := rc.SetWriteDeadline(deadlineSoon()); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.SetReadDeadline(deadlineSoon()); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
	}))
	c := dial(t, addr)
	if resp, _ := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
}

func deadlineSoon() time.Time { return time.Now().Add(testTimeout) }
