// Package h2c is protocol http2: the server side (h2c with prior
// knowledge in from the application, HTTP/1.x connections on the same
// port handed to the strict HTTP/1.1 server) and the client side (h2c to
// the endpoints, net/http's HTTP/2 code with pings on pooled
// connections). The request path between them is package proxy's; see
// docs/http2.md.
package h2c

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accept"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
)

// HTTP1 is the server a non-HTTP/2 connection goes to (h1.Server is one).
type HTTP1 interface {
	ServeConn(c net.Conn) bool
	Shutdown(ctx context.Context) error
}

var _ HTTP1 = (*h1.Server)(nil)

// h2Preface is what every HTTP/2 client with prior knowledge sends first
// (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	// h2IdleTimeout closes a connection with no open stream (and bounds
	// the wait for the first bytes of a new connection), like h1's default.
	h2IdleTimeout = 5 * time.Minute
	// h2MaxHeaderBytes is SETTINGS_MAX_HEADER_LIST_SIZE (about); a larger
	// request head gets 431, as on protocol http.
	h2MaxHeaderBytes = 64 << 10
	// h2ConnWindow is the connection-level receive window for request
	// bodies (net/http's default is 1 MiB, shared by all streams of a
	// connection, which throttles uploads; golang/go#63520). Streams keep
	// the 1 MiB default each.
	h2ConnWindow = 4 << 20
	// h2MaxFrame is SETTINGS_MAX_FRAME_SIZE: the protocol's default and
	// minimum, 16 KiB, rather than net/http's 1 MiB. What clients send
	// fits it anyway (grpc-go, curl and Go's client write 16 KiB frames),
	// and a client that ignores the setting hears FRAME_SIZE_ERROR as
	// RFC 9113 §4.2 asks (h2spec http2/4.2.3 checks it against 16 KiB).
	h2MaxFrame = 16 << 10
)

// Server serves a listener of protocol http2: a connection that opens with
// the HTTP/2 preface is HTTP/2 with prior knowledge (h2c), served by
// net/http's HTTP/2 server; one that opens with an HTTP/1.x request line
// is handed to the HTTP/1 server, when there is one; anything else is
// closed. The `Upgrade: h2c` path of RFC 7540 §3.2 is not offered: an
// upgrade request is an HTTP/1.1 request like any other (StripUpgrade).
//
// ServeConn and Shutdown may be called from any goroutine. Shutdown sends
// GOAWAY on every HTTP/2 connection, lets open streams finish until ctx
// ends and then closes what remains.
type Server struct {
	h2   *http.Server
	h1   HTTP1 // nil: non-HTTP/2 connections are closed
	h2ln *connListener

	mu       sync.Mutex
	closing  bool
	sniffing map[net.Conn]struct{} // accepted, first bytes not read yet
	lns      accept.Listeners      // Serve's, closed by Shutdown
}

// NewServer returns the server of an http2 listener: h2c requests go to
// handler; connections that are not HTTP/2 go to http1 (nil closes them).
// log receives net/http's connection errors at debug level.
func NewServer(handler http.Handler, http1 HTTP1, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true) // and not HTTP1: that is h1's job
	s := &Server{
		h2: &http.Server{
			Handler:        handler,
			Protocols:      protocols,
			IdleTimeout:    h2IdleTimeout,
			MaxHeaderBytes: h2MaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			HTTP2: &http.HTTP2Config{
				MaxReceiveBufferPerConnection: h2ConnWindow,
				MaxReadFrameSize:              h2MaxFrame,
			},
		},
		h1:       http1,
		h2ln:     newConnListener(),
		sniffing: map[net.Conn]struct{}{},
	}
	// net/http's server takes connections from a listener; this one is
	// fed by sniff. It returns when Shutdown closes it.
	go s.h2.Serve(s.h2ln)
	return s
}

// ServeConn sniffs c on a new goroutine and hands it on; it reports false
// (leaving c to the caller) once Shutdown was called.
func (s *Server) ServeConn(c net.Conn) bool {
	if !s.track(c) {
		return false
	}
	go s.sniff(c)
	return true
}

// Serve accepts connections on ln with the sidecar's accept loop (package
// accept) until Shutdown, then returns http.ErrServerClosed. The sidecar
// hands connections to ServeConn; Serve is for tests.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.h2ln.addr = ln.Addr()
	s.mu.Unlock()
	if err := s.lns.Serve(ln, accept.Options{}, s); err != nil {
		return err
	}
	return http.ErrServerClosed
}

// track records a connection being sniffed, so that Shutdown can close
// it; false once Shutdown has begun.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sniffing[c] = struct{}{}
	return true
}

// untrack reports false if Shutdown began (and closed c) meanwhile.
func (s *Server) untrack(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sniffing, c)
	return !s.closing
}

// Shutdown stops accepting, closes the connections still being sniffed,
// and shuts both servers down: net/http's sends GOAWAY and waits for the
// open streams. When ctx ends first, what remains is closed and ctx's
// error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lns.Close()
	s.mu.Lock()
	s.closing = true
	for c := range s.sniffing {
		c.Close()
	}
	clear(s.sniffing)
	s.mu.Unlock()

	var h1Err error
	var wg sync.WaitGroup
	if s.h1 != nil {
		wg.Go(func() { h1Err = s.h1.Shutdown(ctx) })
	}
	err := s.h2.Shutdown(ctx)
	if err != nil {
		s.h2.Close() // http.Server.Shutdown leaves the remaining ones open
	}
	s.h2ln.Close() // stops deliveries still on their way
	wg.Wait()
	if err != nil {
		return err
	}
	return h1Err
}

// StripUpgrade is the handler for the HTTP/1.1 requests of an http2
// listener: their endpoints speak only HTTP/2, where a connection cannot
// switch protocols, so an Upgrade (WebSocket, h2c) is not honoured and the
// request goes on as a plain one without it. Left in, a WebSocket
// handshake would fail in the h2c transport before reaching the endpoint
// and count against the endpoint's health.
func StripUpgrade(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["Upgrade"]; ok {
			// Rare: the copy costs only these requests (the inbound one
			// is never modified).
			r = r.Clone(r.Context())
			delete(r.Header, "Upgrade")
		}
		h.ServeHTTP(w, r)
	})
}

// connListener is a net.Listener fed by sniff: Accept returns the
// connections delivered to it.
type connListener struct {
	addr      net.Addr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept, or closes it once the listener is closed.
func (l *connListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
