package h1

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accept"
)

// Server serves HTTP/1.x on listeners with a strict parser (see the package
// documentation and ReadRequest).
//
// The zero value is usable; set the fields before calling Serve and leave
// them alone afterwards. Serve, Shutdown, Close and ActiveConns may be called
// concurrently from any goroutines.
type Server struct {
	// Handler answers requests; nil means http.NotFoundHandler(). It is
	// called on the connection's goroutine, one request at a time per
	// connection. Unlike net/http's, a request's context is its
	// connection's: it ends when the client goes away, the connection is
	// done or the server closes it — not when the handler returns (one
	// context per connection, not per request; a handler that needs one
	// ending with it makes its own, as the proxy's requestCtx does).
	Handler http.Handler
	// MaxHeaderBytes bounds the request head (request line through the
	// empty line that ends the head); default 64 KiB. Larger is a 431.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header lines of a request (the
	// limits.max_request_headers key); default DefaultMaxHeaders. More is
	// a 431.
	MaxHeaders int
	// ReadHeaderTimeout is the time allowed to read one request head once
	// its first byte has arrived; default 30s. It also bounds draining an
	// unread request body after the handler.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a connection waits for the first byte of its
	// next request (including the first one); default 5m.
	IdleTimeout time.Duration
	// OnBadRequest, if set, is called once for every request the server
	// answers itself with 400 or 431, with RequestError.Reason. It is
	// called on the connection's goroutine and must not block. A malformed
	// chunked body surfaces as a *RequestError from r.Body.Read; it is
	// counted here only if the handler then wrote nothing, so the server
	// sent the 400.
	OnBadRequest func(status int, reason string)
	// Logger receives debug lines for rejected requests and dropped
	// response headers, and error lines for handler panics. nil discards.
	Logger *slog.Logger

	mu         sync.Mutex
	inited     bool
	lg         *slog.Logger
	baseCtx    context.Context
	cancelBase context.CancelFunc
	lns        accept.Listeners // Serve's, closed by Shutdown
	conns      map[*conn]struct{}
	closing    bool          // Shutdown or Close was called
	done       chan struct{} // closed when closing becomes true
	drained    chan struct{} // closed when closing and conns is empty
	inShutdown atomic.Bool   // closing, readable without mu
}

const (
	defaultReadHeaderTimeout = 30 * time.Second
	defaultIdleTimeout       = 5 * time.Minute
)

func (s *Server) initLocked() {
	if s.inited {
		return
	}
	s.inited = true
	s.lg = s.Logger
	if s.lg == nil {
		s.lg = slog.New(slog.DiscardHandler)
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.conns = make(map[*conn]struct{})
	s.done = make(chan struct{})
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (s *Server) maxHeaders() int {
	if s.MaxHeaders > 0 {
		return s.MaxHeaders
	}
	return DefaultMaxHeaders
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return defaultReadHeaderTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return defaultIdleTimeout
}

func (s *Server) handler() http.Handler {
	if s.Handler != nil {
		return s.Handler
	}
	return http.NotFoundHandler()
}

// Serve accepts connections on l (with the sidecar's one accept loop,
// package accept) and serves each on its own goroutine. It blocks until l
// fails or the server is shut down, closes l, and returns ErrServerClosed
// after Shutdown or Close (immediately if they were already called). The
// sidecar itself hands connections to ServeConn; Serve is for tests and
// single-listener use.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.initLocked()
	s.mu.Unlock()
	if err := s.lns.Serve(l, accept.Options{Logger: s.lg}, s); err != nil {
		return err
	}
	return ErrServerClosed
}

// ServeConn serves rwc on a new goroutine and reports true, or reports
// false (leaving rwc to the caller) once Shutdown or Close was called.
func (s *Server) ServeConn(rwc net.Conn) bool {
	s.mu.Lock()
	s.initLocked()
	s.mu.Unlock()
	c := newConn(s, rwc)
	if !s.track(c) {
		return false
	}
	go c.serve()
	return true
}

// Shutdown stops the server gracefully: it closes the listeners, closes
// connections that are idle (waiting for a next request of which no byte has
// arrived), and lets connections in the middle of a request finish it — the
// response gets Connection: close — before they close. It returns nil once
// every connection is closed, or, if ctx ends first, closes the remaining
// connections forcibly, cancels their request contexts and returns
// ctx.Err().
//
// Hijacked connections are not tracked; whoever hijacked them must drain
// them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.beginClosingLocked()
	for c := range s.conns {
		if c.state == stateIdle {
			c.state = stateClosed
			c.rwc.Close()
		}
	}
	drained := s.drained
	s.mu.Unlock()

	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		s.closeAll()
		return ctx.Err()
	}
}

// Close closes the listeners and all tracked connections now and cancels
// every request context. Handlers still running see write errors.
func (s *Server) Close() error {
	s.mu.Lock()
	s.beginClosingLocked()
	s.mu.Unlock()
	s.closeAll()
	return nil
}

// ActiveConns returns the number of connections currently open and tracked
// (hijacked ones are not).
func (s *Server) ActiveConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) beginClosingLocked() {
	s.initLocked()
	if s.closing {
		return
	}
	s.closing = true
	s.inShutdown.Store(true)
	close(s.done)
	s.drained = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.drained)
	}
	s.lns.Close()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	for c := range s.conns {
		c.state = stateClosed
		c.rwc.Close()
	}
	s.mu.Unlock()
	s.cancelBase()
}

type connState int

const (
	stateIdle   connState = iota // waiting for the first byte of a request
	stateActive                  // reading or serving a request
	stateClosed                  // closed by Shutdown or Close
)

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		close(s.drained)
	}
}

// setState moves c to idle or active. Going idle fails once the server is
// closing (the connection should close instead); going active fails if
// Shutdown already closed the idle connection.
func (s *Server) setState(c *conn, st connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.state == stateClosed || (st == stateIdle && s.closing) {
		return false
	}
	c.state = st
	return true
}

func (s *Server) rejected(c *conn, e *RequestError) {
	if f := s.OnBadRequest; f != nil {
		f(e.Status, e.Reason)
	}
	if s.lg.Enabled(context.Background(), slog.LevelDebug) {
		s.lg.Debug("h1: rejected request", "remote", c.remoteAddr, "status", e.Status, "reason", e.Reason)
	}
}
