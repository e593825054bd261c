package h1

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// splitConn is an upstream's socket that, once split is armed, sends the
// first 10 bytes of the next Write (a TLS record: its 5-byte header and a
// little of its body) at once and holds the rest back until release.
type splitConn struct {
	net.Conn
	mu      sync.Mutex
	armed   bool
	rest    []byte
	partial chan struct{}
}

func (c *splitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.armed {
		c.armed = false
		c.rest = append([]byte(nil), p[10:]...)
		c.mu.Unlock()
		if _, err := c.Conn.Write(p[:10]); err != nil {
			return 0, err
		}
		close(c.partial)
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *splitConn) release() {
	c.mu.Lock()
	rest := c.rest
	c.rest = nil
	c.mu.Unlock()
	c.Conn.Write(rest)
}

// An unsolicited response on an idle pooled TLS connection whose first
// record has only partly arrived: quietTLS's timed-out read leaves the
// partial record in the tls.Conn's buffer and reports the connection
// quiet, and the rest of the stale record is then read as the answer to
// the next request. The plaintext check (recv MSG_PEEK) sees any byte
// that has arrived and drops such a connection.
func TestTLSPartialRecordOnIdleConnectionIsNotReused(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	partial := make(chan struct{})
	go func() {
		for first := true; ; first = false {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			sc := &splitConn{Conn: raw, partial: make(chan struct{})}
			if first {
				sc.partial = partial
			}
			go func(sc *splitConn, first bool) {
				defer sc.Close()
				tc := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}})
				br := bufio.NewReader(tc)
				for n := 0; ; n++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					switch {
					case first && n == 0:
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
						sc.mu.Lock()
						sc.armed = true
						sc.mu.Unlock()
						// Unasked, a record of its own, of which 10 bytes arrive now.
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN")
					case first && n == 1:
						sc.release() // the stale record completes
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
					default:
						io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
					}
				}
			}(sc, first)
		}
	}()
	addr := ln.Addr().String()
	cl := tlsClient(&tls.Config{RootCAs: pool, ServerName: "example.com"})
	defer cl.Close()
	if _, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0); b != "first" {
		t.Fatalf("first answer %q", b)
	}
	select {
	case <-partial:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never sent the partial record")
	}
	time.Sleep(100 * time.Millisecond) // the 10 bytes reach the client's socket
	if _, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0); b != "second" {
		t.Fatalf("second request answered %q: bytes the upstream sent on the idle connection before it were taken as its response", b)
	}
}

// In TLS 1.3 the client's handshake completes before the server has
// checked the client certificate. A mesh peer that refuses ours (another
// CA after a rotation, or Consul's built-in proxy denying by intention
// inside its handshake) is then seen only after the request was written:
// not a connect_failure, and "sent", so a POST is never retried on
// another endpoint, although the peer provably processed nothing. The
// peer's handshake alert on a fresh connection's first read means the
// connection was never established.
func TestTLS13PeerRefusingOurCertificateIsADialFailure(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    x509.NewCertPool(), // trusts no client
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				readRequests(c, func(_ int, r *http.Request) bool { got <- r.Method; return false })
			}()
		}
	}()
	cl := tlsClient(&tls.Config{RootCAs: pool, ServerName: "example.com", Certificates: []tls.Certificate{cert}})
	defer cl.Close()
	_, _, err = roundTrip(t, cl, "POST", ln.Addr().String(), "/", strings.NewReader("pay"), 3)
	if err == nil {
		t.Fatal("a peer that refused the client certificate answered")
	}
	select {
	case m := <-got:
		t.Fatalf("the peer read a %s", m)
	default:
	}
	if !DialFailed(err) || Sent(err) {
		t.Fatalf("err %v: DialFailed %v, Sent %v; want a dial failure with nothing sent (connect_failure, retryable even for a POST)",
			err, DialFailed(err), Sent(err))
	}
}
