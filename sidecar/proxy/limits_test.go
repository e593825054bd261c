package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// h1Front serves the handler for cfg's endpoints behind the sidecar's own
// HTTP/1.1 server (as protocol http does), with the client's stream idle
// timeout idle, and returns its address.
func h1Front(t *testing.T, cfg config.Upstream, idle time.Duration, endpoints ...string) (string, *upstream.Upstream) {
	t.Helper()
	up := staticUpstream(t, cfg, endpoints...)
	client := h1.NewClient(h1.ClientOptions{ConnectTimeout: time.Second, MaxIdlePerEndpoint: 8,
		IdleTimeout: time.Minute, StreamIdleTimeout: idle, MaxInformational: 10})
	t.Cleanup(client.CloseIdleConnections)
	h := NewHandler(up, client, Options{StreamIdleTimeout: idle, Tunnels: true})
	srv := &h1.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), up
}

// rawBackend is a hand-made upstream (real servers cannot be made to stall
// or answer CONNECT on demand): serve runs once per connection.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return rawListener(t, func(c net.Conn) { serve(c, bufio.NewReader(c)) })
}

// rawListener accepts loopback connections until the test ends and runs
// serve on each, with a 10s deadline, closing it afterwards.
func rawListener(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func limitsCfg() config.Upstream {
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.Retries.Attempts, cfg.Timeout = "payments", 0, 10*time.Second
	return cfg
}

// An upstream that stalls mid-answer is cut off after the stream idle
// timeout, and counts as the endpoint's timeout. When none of the answer
// has reached the client yet, the client gets 504 upstream_timeout
// instead of a truncated answer.
func TestUpstreamStallIsAnIdleTimeout(t *testing.T) {
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes.")
		io.Copy(io.Discard, c) // then nothing, until the sidecar gives up
	})
	front, up := h1Front(t, limitsCfg(), 200*time.Millisecond, be)
	start := time.Now()
	resp, err := http.Get("http://" + front + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || resp.Header.Get("X-Outrigger-Error") != "upstream_timeout" {
		t.Fatalf("%d %q %q, want 504 upstream_timeout", resp.StatusCode, resp.Header.Get("X-Outrigger-Error"), body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	ep := up.Snapshot().Members[0].Endpoint
	if ep.Failures() != 1 {
		t.Fatalf("endpoint failures %d, want 1 (the stall is the endpoint's)", ep.Failures())
	}
}

// CONNECT goes out with its authority as the target, and a 2xx turns the
// exchange into a tunnel that carries bytes both ways and half-closes.
func TestConnectTunnel(t *testing.T) {
	lines := make(chan string, 1)
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		line, _ := br.ReadString('\n')
		lines <- strings.TrimSpace(line)
		for l, _ := br.ReadString('\n'); l != "\r\n" && l != ""; l, _ = br.ReadString('\n') {
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		// An echo of what comes through the tunnel, then a half-close of
		// our own once the client half-closed.
		io.Copy(c, br)
		c.(*net.TCPConn).CloseWrite()
	})
	front, up := h1Front(t, limitsCfg(), time.Minute, be)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT answer %v %v", resp, err)
	}
	if got := <-lines; got != "CONNECT example.com:443 HTTP/1.1" {
		t.Fatalf("the upstream got %q", got)
	}
	io.WriteString(c, "through the tunnel")
	c.(*net.TCPConn).CloseWrite()
	echoed, err := io.ReadAll(br)
	if err != nil || string(echoed) != "through the tunnel" {
		t.Fatalf("echo %q %v", echoed, err)
	}
	waitUntil(t, func() bool { return up.Stats().Active() == 0 }, "the tunnel to end")
	if ep := up.Snapshot().Members[0].Endpoint; ep.Requests() != 1 || ep.Failures() != 0 {
		t.Fatalf("endpoint requests %d failures %d", ep.Requests(), ep.Failures())
	}
}

// waitUntil polls cond with a deadline.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
