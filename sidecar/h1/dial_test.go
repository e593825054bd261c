package h1

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// tlsUpstream is rawUpstream over TLS (a server certificate from
// httptest's CA); it returns the address and a client config trusting it.
func tlsUpstream(t *testing.T, serve func(c net.Conn)) (string, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // only for its certificate and pool
	cert := srv.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return serveConns(t, ln, serve), &tls.Config{RootCAs: pool, ServerName: "example.com"}
}

func tlsClient(cfg *tls.Config) *Client {
	return NewClient(ClientOptions{ConnectTimeout: time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 4,
		MaxInformational: 10, StreamIdleTimeout: time.Minute, TLS: cfg})
}

// A TLS 1.3 server sends session tickets after the handshake, unasked:
// they are no answer, and must not make every pooled connection look
// tainted (a socket peek would see their bytes).
func TestTLSClientReusesConnections(t *testing.T) {
	var conns atomic.Int64
	addr, cfg := tlsUpstream(t, func(c net.Conn) {
		conns.Add(1)
		readRequests(c, func(n int, r *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	cl := tlsClient(cfg)
	defer cl.Close()
	for range 5 {
		if _, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0); b != "ok" {
			t.Fatalf("answer %q", b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
}

// Bytes an upstream sends on an idle TLS connection are an answer to no
// request: the connection is dropped, as a plaintext one is.
func TestTLSClientDropsIdleConnectionWithUnsolicitedBytes(t *testing.T) {
	var conns atomic.Int64
	sent := make(chan struct{})
	addr, cfg := tlsUpstream(t, func(c net.Conn) {
		conns.Add(1)
		readRequests(c, func(n int, r *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
			if n == 0 && conns.Load() == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSTOLEN") // a separate TLS record
				close(sent)
			}
			return true
		})
	})
	cl := tlsClient(cfg)
	defer cl.Close()
	mustRoundTrip(t, cl, "GET", addr, "/", nil, 0)
	<-sent
	// Wait until the record has reached the client's socket: the pooled
	// connection then reports itself not quiet.
	p := cl.pool(addr)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		c := <-p.idle
		q := c.br.Buffered() > 0 || !c.quiet()
		p.idle <- c
		if q {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, b := mustRoundTrip(t, cl, "GET", addr, "/", nil, 0); b != "first" {
		t.Fatalf("second answer %q: the unsolicited bytes were taken as a response", b)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: the tainted one must be replaced", n)
	}
}

// A handshake the client refuses (a server its roots do not vouch for) is
// a dial failure: the endpoint's connect_failure, and nothing was sent.
func TestTLSHandshakeFailureIsADialFailure(t *testing.T) {
	var got atomic.Int64
	addr, _ := tlsUpstream(t, func(c net.Conn) {
		readRequests(c, func(int, *http.Request) bool { got.Add(1); return false })
	})
	cl := tlsClient(&tls.Config{RootCAs: x509.NewCertPool(), ServerName: "example.com"})
	defer cl.Close()
	_, _, err := roundTrip(t, cl, "GET", addr, "/", nil, 0)
	if err == nil || !DialFailed(err) || Sent(err) {
		t.Fatalf("err %v: DialFailed %v, Sent %v; want a dial failure, nothing sent", err, err != nil && DialFailed(err), err != nil && Sent(err))
	}
	if got.Load() != 0 {
		t.Error("the server read a request")
	}
}
