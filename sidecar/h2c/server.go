package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ListenerServer serves connections handed to it through a listener until
// Shutdown: h1.Server is one. Serve blocks; Shutdown may be called from any
// goroutine, stops accepting, waits for in-flight work until ctx ends, then
// closes what remains and returns ctx's error.
type ListenerServer interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

var _ ListenerServer = (*H2CServer)(nil)

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
	// connection; research/performance.md item 6). Streams keep the 1 MiB
	// default each.
	h2ConnWindow = 4 << 20
	// h2MaxFrame is SETTINGS_MAX_FRAME_SIZE: the protocol's default and
	// minimum, 16 KiB, rather than net/http's 1 MiB. What clients send
	// fits it anyway (grpc-go, curl and Go's client write 16 KiB frames),
	// and a client that ignores the setting hears FRAME_SIZE_ERROR as
	// RFC 9113 §4.2 asks (h2spec http2/4.2.3 checks it against 16 KiB).
	h2MaxFrame = 16 << 10
)

// H2CServer serves a listener of protocol http2: a connection that opens
// with the HTTP/2 preface is HTTP/2 with prior knowledge (h2c), served by
// net/http's HTTP/2 server; one that opens with an HTTP/1.x request line
// is handed to the HTTP/1 server, when there is one; anything else is
// closed. The `Upgrade: h2c` path of RFC 7540 §3.2 is not offered: an
// upgrade request is an HTTP/1.1 request like any other (StripUpgrade).
//
// Serve is called at most once. Shutdown sends GOAWAY on every HTTP/2
// connection, lets open streams finish until ctx ends and then closes
// what remains; it may be called from any goroutine.
type H2CServer struct {
	h2   *http.Server
	h1   ListenerServer // nil: non-HTTP/2 connections are closed
	h2ln *connListener
	h1ln *connListener

	mu       sync.Mutex
	ln       net.Listener
	served   bool
	closing  bool
	done     chan struct{}         // closed when closing becomes true
	sniffing map[net.Conn]struct{} // accepted, first bytes not read yet
}

// NewH2CServer returns the server of an http2 listener: h2c requests go
// to handler; connections that are not HTTP/2 go to http1 (nil closes
// them). log receives net/http's connection errors at debug level.
func NewH2CServer(handler http.Handler, http1 ListenerServer, log *slog.Logger) *H2CServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true) // and not HTTP1: that is h1's job
	s := &H2CServer{
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
		done:     make(chan struct{}),
		sniffing: map[net.Conn]struct{}{},
	}
	if http1 != nil {
		s.h1ln = newConnListener()
	}
	return s
}

// Serve accepts connections on ln until Shutdown (then it returns
// http.ErrServerClosed) or until ln fails.
func (s *H2CServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing || s.served {
		s.mu.Unlock()
		ln.Close()
		if s.served {
			return errors.New("proxy: H2CServer.Serve called twice")
		}
		return http.ErrServerClosed
	}
	s.ln, s.served = ln, true
	s.h2ln.addr = ln.Addr()
	if s.h1ln != nil {
		s.h1ln.addr = ln.Addr()
	}
	s.mu.Unlock()

	// The inner servers return when Shutdown closes their listeners.
	go s.h2.Serve(s.h2ln)
	if s.h1 != nil {
		go s.h1.Serve(s.h1ln)
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				// EMFILE and friends: back off like net/http, but stay
				// responsive to Shutdown.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-s.done:
					t.Stop()
				}
				continue
			}
			return err
		}
		delay = 0
		go s.sniff(c)
	}
}

// sniff reads the first bytes of c, as many as it takes to tell what they
// are, and hands c (with those bytes put back) to the HTTP/2 server (the
// preface), to the HTTP/1 server (a request line ending in HTTP/1.0 or
// HTTP/1.1), or closes it (anything else, as RFC 9113 §3.4 asks of an
// invalid preface). The first bytes may take h2IdleTimeout to come, the
// rest of the preface or request line h1HeadTimeout.
func (s *H2CServer) sniff(c net.Conn) {
	if !s.track(c) {
		c.Close()
		return
	}
	head, kind := sniffHead(c, s.h1ln != nil)
	c.SetReadDeadline(time.Time{})
	if !s.untrack(c) || kind == sniffClose { // or Shutdown came first
		c.Close()
		return
	}
	sc := &sniffedConn{Conn: c, head: head}
	if kind == sniffH2 {
		s.h2ln.deliver(sc)
	} else {
		s.h1ln.deliver(sc)
	}
}

type sniffKind int

const (
	sniffClose sniffKind = iota
	sniffH2
	sniffH1
)

const (
	// h1HeadTimeout is h1's default ReadHeaderTimeout: the time the rest
	// of a preface or request line may take once its first byte came.
	h1HeadTimeout = 30 * time.Second
	// h1MaxLine bounds the request line read here (h1's MaxHeaderBytes
	// default); a longer one is left to h1 to refuse.
	h1MaxLine = 64 << 10
)

// sniffHead reads from c until classifyHead can tell what the connection is,
// and returns what it read.
func sniffHead(c net.Conn, http1 bool) ([]byte, sniffKind) {
	c.SetReadDeadline(time.Now().Add(h2IdleTimeout))
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if n > 0 && len(buf) == 0 {
			c.SetReadDeadline(time.Now().Add(h1HeadTimeout))
		}
		buf = buf[:len(buf)+n]
		if kind, ok := classifyHead(buf, http1); ok {
			return buf, kind
		}
		if err != nil {
			return nil, sniffClose
		}
	}
}

// classifyHead tells what a connection's first bytes b are, or false when it
// needs more of them. Only an HTTP/2 client's bytes match the preface
// beyond the 'P' of POST, PUT or PATCH, so HTTP/1 is told within two bytes
// of the preface; then its request line must end in HTTP/1.x (empty lines
// before it are allowed, RFC 9112 §2.2).
func classifyHead(b []byte, http1 bool) (sniffKind, bool) {
	if n := min(len(b), len(h2Preface)); string(b[:n]) == h2Preface[:n] {
		return sniffH2, n == len(h2Preface)
	}
	if !http1 {
		return sniffClose, true
	}
	line := bytes.TrimLeft(b, "\r\n")
	i := bytes.IndexByte(line, '\n')
	if i < 0 {
		return sniffH1, len(b) >= h1MaxLine
	}
	line = bytes.TrimSuffix(line[:i], []byte("\r"))
	if bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return sniffH1, true
	}
	return sniffClose, true
}

// track records a connection being sniffed, so that Shutdown can close
// it; false once Shutdown has begun.
func (s *H2CServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sniffing[c] = struct{}{}
	return true
}

// untrack reports false if Shutdown began (and closed c) meanwhile.
func (s *H2CServer) untrack(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sniffing, c)
	return !s.closing
}

// Shutdown stops accepting, closes the connections still being sniffed,
// and shuts both servers down: net/http's sends GOAWAY and waits for the
// open streams. When ctx ends first, what remains is closed and ctx's
// error returned.
func (s *H2CServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	if s.ln != nil {
		s.ln.Close()
	}
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
	// Only now: when Serve was never called, the inner servers never took
	// their listeners, and Shutdown must still stop deliveries.
	s.h2ln.Close()
	if s.h1ln != nil {
		s.h1ln.Close()
	}
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
			// is never modified, STYLE.md 10).
			r = r.Clone(r.Context())
			delete(r.Header, "Upgrade")
		}
		h.ServeHTTP(w, r)
	})
}

// sniffedConn is a connection whose first bytes were read already: Read
// returns them first.
type sniffedConn struct {
	net.Conn
	head []byte
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps the half-close of the TCP connection reachable (h1
// uses it for a lingering close).
func (c *sniffedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
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
