package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// writeLog records every Write on the connections a countingListener
// accepted: on a plain TCP connection each is one write(2). A write is
// recorded before it is made, so a peer that has read its bytes finds it
// in the log.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
}

func (l *writeLog) add(p []byte) {
	l.mu.Lock()
	l.writes = append(l.writes, bytes.Clone(p))
	l.mu.Unlock()
}

func (l *writeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

func (l *writeLog) last() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes[len(l.writes)-1]
}

type countingListener struct {
	net.Listener
	log *writeLog
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.log}, nil
}

type countingConn struct {
	net.Conn
	log *writeLog
}

func (c countingConn) Write(p []byte) (int, error) {
	c.log.add(p)
	return c.Conn.Write(p)
}

// countedServer serves h on loopback behind the sidecar's HTTP/1.1 server,
// logging the writes to its clients.
func countedServer(tb testing.TB, h http.Handler) (string, *writeLog) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	log := &writeLog{}
	srv := &h1.Server{Handler: h}
	go srv.Serve(countingListener{ln, log})
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), log
}

// countedFront is the proxy handler for one endpoint, as protocol http
// serves it, logging the writes to its clients.
func countedFront(tb testing.TB, endpoint string) (string, *writeLog) {
	tb.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.Timeout = "payments", 10*time.Second
	up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static"})
	if err != nil {
		tb.Fatal(err)
	}
	up.Update([]discovery.Instance{{Address: endpoint, ID: endpoint, Healthy: true}})
	client := newClient(cfg)
	tb.Cleanup(client.CloseIdleConnections)
	return countedServer(tb, NewHandler(up, client, Options{}))
}

// chunkedBackend answers every request on a connection with resp, in one
// write each, until the client closes.
func chunkedBackend(tb testing.TB, resp string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for readHead(br) == nil {
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readHead consumes a request head without a body.
func readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

const wholeChunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

// getWhole sends a GET on c and reads the whole answer.
func getWhole(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: payments\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// streamBody holds its flush while the upstream's next chunk, or its end,
// is already buffered: a chunked answer that arrived in one piece goes to
// the client in one write, head, chunks and end together (it used to take
// one write per chunk and one more for the last chunk).
func TestStreamBodyWholeChunkedAnswerIsOneWrite(t *testing.T) {
	be := chunkedBackend(t, wholeChunked)
	cl := newClient(config.Upstream{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 8})
	t.Cleanup(cl.CloseIdleConnections)
	addr, log := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequest("GET", "http://"+be+"/", nil)
		resp, err := cl.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		cs := newClientSide(r.Context(), w, 0, 0)
		w.WriteHeader(resp.StatusCode)
		if rerr, werr := streamBody(&cs, w, resp.Body, true); rerr != nil || werr != nil {
			t.Errorf("streamBody: %v, %v", rerr, werr)
		}
	}))
	expectWholeAnswersInOneWrite(t, addr, log)
}

// Through the whole proxy: the answer's head, body and end leave in one
// write (streamBody flushes only before a read that would wait).
func TestChunkedAnswerArrivingWholeLeavesTogether(t *testing.T) {
	addr, log := countedFront(t, chunkedBackend(t, wholeChunked))
	expectWholeAnswersInOneWrite(t, addr, log)
}

// expectWholeAnswersInOneWrite sends three requests on one connection to
// addr and checks that each answer ("hello world") reached the client in
// one write, as log counts them.
func expectWholeAnswersInOneWrite(t *testing.T, addr string, log *writeLog) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		before := log.count()
		if body := getWhole(t, c, br); body != "hello world" {
			t.Fatalf("request %d: body %q", i, body)
		}
		n, last := log.count()-before, string(log.last())
		if n != 1 || !strings.Contains(last, "hello") || !strings.Contains(last, " world") {
			t.Fatalf("request %d: %d writes, the last %q; want the whole answer in one", i, n, last)
		}
	}
}

// A stream whose next chunk has not arrived is flushed at once: the client
// reads the first chunk while the upstream holds back the second until it
// has (server-sent events, gRPC-like streams).
func TestStreamChunkIsFlushedBeforeTheNextArrives(t *testing.T) {
	gotFirst := make(chan struct{})
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst;\r\n")
		select {
		case <-gotFirst:
		case <-time.After(5 * time.Second):
			return // the test fails on its side
		}
		io.WriteString(c, "6\r\nsecond\r\n0\r\n\r\n")
	})
	addr, log := countedFront(t, be)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: payments\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("first chunk %q, %v: not flushed while the upstream waits", first, err)
	}
	close(gotFirst)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if n := log.count(); n > 3 {
		t.Fatalf("%d writes, want at most 3 (head, first chunk, second chunk with the end)", n)
	}
}

// BenchmarkChunkedThroughProxy is a small chunked answer (two chunks that
// arrive in one segment) relayed by the proxy over loopback: the sidecar's
// server and client, one keep-alive connection each side. writes/op is the
// write calls on the client's connection per request.
func BenchmarkChunkedThroughProxy(b *testing.B) {
	chunk := strings.Repeat("x", 512)
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"200\r\n" + chunk + "\r\n200\r\n" + chunk + "\r\n0\r\n\r\n"
	addr, log := countedFront(b, chunkedBackend(b, resp))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: payments\r\n\r\n")
	b.ReportAllocs()
	before := log.count()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, resp.Body); n != 1024 {
			b.Fatalf("body %d bytes", n)
		}
		resp.Body.Close()
	}
	b.ReportMetric(float64(log.count()-before)/float64(b.N), "writes/op")
}
