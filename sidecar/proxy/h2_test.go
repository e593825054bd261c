//lint:file-ignore SA1019 x/net/http2.Transport is used on purpose: an HTTP/2 client other than the net/http code the sidecar serves with (until Go 1.27 makes it a wrapper of net/http).

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/h2c"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// h2Backend starts a loopback h2c (prior knowledge only) backend.
func h2Backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func h2Config() config.Upstream {
	return config.Upstream{
		Name: "grpc", LB: "round_robin", ConnectTimeout: time.Second,
		Timeout: 20 * time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 8,
	}
}

// h2Front starts the proxy of an http2 listener (h2c.Server with the h1
// fallback, h2c's transport) for the endpoints, and returns its address.
func h2Front(t *testing.T, cfg config.Upstream, endpoints ...string) (string, *upstream.Upstream, *h2c.Server) {
	t.Helper()
	up := staticUpstream(t, cfg, endpoints...)
	tr := h2c.NewTransport(cfg, 64<<10, nil)
	t.Cleanup(tr.CloseIdleConnections)
	h := NewHandler(up, tr, Options{})
	srv := h2c.NewServer(h, &h1.Server{Handler: h2c.StripUpgrade(h)}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String(), up, srv
}

// h2cClient is golang.org/x/net/http2's client with prior knowledge: an
// HTTP/2 implementation other than the one the sidecar serves with.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func TestH2CProxyStreamsAndTrailers(t *testing.T) {
	step := make(chan struct{})
	var proto, host atomic.Value
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		host.Store(r.Host)
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-step // the client must see "first;" before the backend goes on
		io.WriteString(w, "second")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "late")
	})
	front, _, _ := h2Front(t, h2Config(), addr)
	req, _ := http.NewRequest("GET", "http://"+front+"/stream", nil)
	req.Host = "payments.internal"
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("client got %s", resp.Proto)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
		close(step)
		t.Fatalf("first chunk %q %v", buf, err)
	}
	close(step)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Undeclared") != "late" {
		t.Fatalf("rest %q trailer %v", rest, resp.Trailer)
	}
	if proto.Load() != "HTTP/2.0" || host.Load() != "payments.internal" {
		t.Fatalf("backend saw %v host %v", proto.Load(), host.Load())
	}
}

// TestH2CProxyFullDuplex sends a request body and reads the response
// body in lockstep, one line at a time, as a bidirectional gRPC stream
// does: nothing may wait for the other side's end.
func TestH2CProxyFullDuplex(t *testing.T) {
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			fmt.Fprintf(w, "echo %s\n", sc.Text())
			w.(http.Flusher).Flush()
		}
	})
	front, _, _ := h2Front(t, h2Config(), addr)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+front+"/duplex", pr)
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	for i := range 100 {
		fmt.Fprintf(pw, "%d\n", i)
		got, err := lines.ReadString('\n')
		if want := fmt.Sprintf("echo %d\n", i); err != nil || got != want {
			t.Fatalf("round %d: got %q %v, want %q", i, got, err, want)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after the last round: %q %v", rest, err)
	}
}

// TestH2CServerServesHTTP1 checks that a plain HTTP/1.1 client is served
// on an http2 listener (by the strict codec), goes out as HTTP/2, and
// that neither `Upgrade: h2c` nor a WebSocket upgrade is honoured: the
// request goes on as a plain GET and the endpoint's health is untouched.
func TestH2CServerServesHTTP1(t *testing.T) {
	var proto atomic.Value
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		if r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
			t.Errorf("hop-by-hop upgrade headers reached the backend: %v", r.Header)
		}
		io.WriteString(w, "hello")
	})
	front, up, _ := h2Front(t, h2Config(), addr)
	for _, upgrade := range []string{"", "h2c", "websocket"} {
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		head := "GET / HTTP/1.1\r\nHost: x\r\n"
		switch upgrade {
		case "h2c":
			head += "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
		case "websocket":
			head += "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, head+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 1 || string(b) != "hello" {
			t.Fatalf("upgrade %q: got %s %d %q", upgrade, resp.Proto, resp.StatusCode, b)
		}
		if proto.Load() != "HTTP/2.0" {
			t.Fatalf("backend saw %v", proto.Load())
		}
	}
	if ep := up.Snapshot().Members[0].Endpoint; ep.Requests() != 3 || ep.Failures() != 0 {
		t.Fatalf("requests %d failures %d, want 3 and 0", ep.Requests(), ep.Failures())
	}
}

func TestH2CServerWithoutHTTP1ClosesHTTP1Conns(t *testing.T) {
	srv := h2c.NewServer(http.NotFoundHandler(), nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("read %d %v, want the connection closed", n, err)
	}
}

// h2RawConn is a hand-driven HTTP/2 client connection, to watch the
// frames the server sends.
type h2RawConn struct {
	t  *testing.T
	c  net.Conn
	fr *http2.Framer
}

func dialH2Raw(t *testing.T, addr string) *h2RawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	r := &h2RawConn{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *h2RawConn) get(stream uint32, path string) {
	r.t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next frame other than SETTINGS, WINDOW_UPDATE and
// PING (which it answers).
func (r *h2RawConn) next() http2.Frame {
	r.t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("reading a frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				r.fr.WritePing(true, f.Data)
			}
		case *http2.WindowUpdateFrame:
		default:
			return f
		}
	}
}

// TestH2CServerShutdownSendsGOAWAYAndDrains: on Shutdown, a connection
// with a stream in flight gets GOAWAY (NO_ERROR), the stream still
// completes, new connections are refused, and Shutdown returns nil.
func TestH2CServerShutdownSendsGOAWAYAndDrains(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	front, _, srv := h2Front(t, h2Config(), addr)
	rc := dialH2Raw(t, front)
	rc.get(1, "/slow")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the backend")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	ga, ok := rc.next().(*http2.GoAwayFrame)
	if !ok || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID < 1 {
		close(release)
		t.Fatalf("want GOAWAY NO_ERROR covering stream 1, got %v", ga)
	}
	if c, err := net.DialTimeout("tcp", front, time.Second); err == nil {
		c.Close()
		close(release)
		t.Fatal("a new connection was accepted after Shutdown")
	}
	close(release)
	var status, body string
	for done := false; !done; {
		switch f := rc.next().(type) {
		case *http2.MetaHeadersFrame:
			status = f.PseudoValue("status")
			done = f.StreamEnded()
		case *http2.DataFrame:
			body += string(f.Data())
			done = f.StreamEnded()
		case *http2.GoAwayFrame: // the final one, after the last stream
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	if status != "200" || body != "done" {
		t.Fatalf("stream 1 ended with %q %q", status, body)
	}
	rc.c.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last stream")
	}
}

// TestH2CServerShutdownDeadlineClosesStreams: streams still open when
// Shutdown's context ends are cut, and Shutdown returns the context's
// error.
func TestH2CServerShutdownDeadlineClosesStreams(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	front, _, srv := h2Front(t, h2Config(), addr)
	got := make(chan error, 1)
	go func() {
		resp, err := h2cClient(t).Get("http://" + front + "/hang")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		got <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the backend")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("the cut request succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request was not cut")
	}
}

// blackhole relays TCP to target until frozen; then it drops every byte
// in both directions without closing anything: a peer that vanished
// without a FIN (a half-open connection).
type blackhole struct {
	ln     net.Listener
	frozen atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			go b.pump(c, u)
			go b.pump(u, c)
		}
	}()
	return b
}

func (b *blackhole) pump(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestH2CTransportPingDropsHalfOpenConn: a pooled connection whose peer
// went silent is found dead by PING and dropped (golang/go#36026), so the
// request on it fails within the ping timings instead of hanging, and the
// next one dials afresh.
func TestH2CTransportPingDropsHalfOpenConn(t *testing.T) {
	addr := h2Backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	bh := newBlackhole(t, addr)
	tr := h2c.NewTransportPinging(h2Config(), 0, 100*time.Millisecond, 200*time.Millisecond)
	defer tr.CloseIdleConnections()
	get := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+bh.ln.Addr().String()+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && (resp.ProtoMajor != 2 || string(b) != "ok") {
			err = fmt.Errorf("got %s %q", resp.Proto, b)
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	bh.frozen.Store(true)
	start := time.Now()
	err := get()
	if err == nil {
		t.Fatal("a request through the frozen connection succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the dead connection was noticed only after %v (%v)", took, err)
	}
	bh.frozen.Store(false)
	if err := get(); err != nil {
		t.Fatalf("after the dead connection was dropped: %v", err)
	}
}

// TestH2CServerClosesGarbage: a connection that is neither HTTP/2 nor
// HTTP/1.x is closed without an answer (h2spec http2/3.5.2).
func TestH2CServerClosesGarbage(t *testing.T) {
	front, _, _ := h2Front(t, h2Config(), h2Backend(t, func(http.ResponseWriter, *http.Request) {}))
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "INVALID CONNECTION PREFACE\r\n\r\n")
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("read %q %v, want the connection closed silently", b, err)
	}
}

// limits.max_response_header_bytes holds on protocol http2 as well: an
// endpoint's header list over it fails the stream, and the client gets 502
// upstream_protocol_error (before: a 1 MiB limit of its own, and
// upstream_reset).
func TestH2ResponseHeaderLimit(t *testing.T) {
	for name, set := range map[string]func(http.Header){
		"one long field": func(h http.Header) { h.Set("X-Big", strings.Repeat("a", 80<<10)) },
		"many fields": func(h http.Header) {
			for i := range 100 {
				h.Set(fmt.Sprintf("X-F%d", i), strings.Repeat("b", 1000))
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			expectH2ProtocolError(t, h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
				set(w.Header())
				io.WriteString(w, "ok")
			}))
		})
	}
}

// expectH2ProtocolError sends one GET (no retries) through an http2
// listener to the endpoint be, checks that the client gets 502
// upstream_protocol_error, and returns the upstream for further checks.
func expectH2ProtocolError(t *testing.T, be string) *upstream.Upstream {
	t.Helper()
	cfg := h2Config()
	cfg.Retries.Attempts = 0
	front, up, _ := h2Front(t, cfg, be)
	resp, err := h2cClient(t).Get("http://" + front + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || resp.Header.Get("X-Outrigger-Error") != "upstream_protocol_error" {
		t.Fatalf("%d %q, want 502 upstream_protocol_error", resp.StatusCode, resp.Header.Get("X-Outrigger-Error"))
	}
	return up
}
