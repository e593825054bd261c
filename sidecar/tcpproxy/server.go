// Package tcpproxy is protocol tcp: each connection the application opens
// on an upstream's listener is relayed byte for byte to one endpoint.
//
// Per connection: the concurrency cap (circuit_breaker.max_requests caps
// open connections), then per connect attempt the breaker and a pick; a
// failed connect counts against the endpoint (outlier detection) and is
// retried on another endpoint within retries.attempts and the retry budget.
// Once connected, the endpoint's lease is held for the life of the pair, so
// least_conn balances open connections. Bytes are copied with io.Copy
// between the two *net.TCPConn values, which Linux turns into splice(2)
// (nothing is copied through user space). See pair.go for half-close and
// the idle timeout, and docs/tcp.md.
package tcpproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accept"
	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/ratelimit"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// ErrServerClosed is what Serve returns once Shutdown or Close was called.
// It wraps net.ErrClosed, so errors.Is(err, net.ErrClosed) holds.
var ErrServerClosed = fmt.Errorf("tcpproxy: server closed: %w", net.ErrClosed)

// Options are a Server's optional parts; zero values take the upstream's
// configuration. There is no clock to inject: the idle timeout runs on
// socket deadlines, which the runtime's poller keeps on the real clock.
type Options struct {
	Logger *slog.Logger
	// DialTimeout bounds each connect attempt; 0 means connect_timeout.
	DialTimeout time.Duration
	// IdleTimeout closes a connection pair when neither direction moved a
	// byte for that long; 0 means idle_timeout, negative disables it.
	IdleTimeout time.Duration
	// TLS wraps every upstream connection (a mesh upstream's mTLS); nil:
	// plaintext.
	TLS *tls.Config
	// AccessLog gets a line per connection when it ends (accesslog.go);
	// nil: none.
	AccessLog *accesslog.Sink
}

// Server relays the connections of one upstream listener. Every connection
// handed to ServeConn is served on its own goroutine (two while relaying).
// ServeConn, Shutdown, Close and ActiveConns may be called from any
// goroutine.
type Server struct {
	up       *upstream.Upstream
	log      *slog.Logger
	dialer   net.Dialer
	tls      *tls.Config // nil: plaintext
	alog     *accesslog.Sink
	idle     time.Duration
	maxConns int64
	ipHash   bool // the pick key (client IP) is only worth computing for ip_hash
	// limit is rate_limit, per new connection (nil: off), on the
	// upstream's clock.
	limit *ratelimit.Limiter

	// dialCtx ends in-progress connects when Shutdown's deadline passes.
	dialCtx    context.Context
	cancelDial context.CancelFunc

	mu       sync.Mutex
	closing  bool
	lns      accept.Listeners // Serve's, closed by Shutdown
	sessions map[*session]struct{}
	handlers sync.WaitGroup // one per tracked session
	active   atomic.Int64
}

// New returns the TCP proxy of up.
func New(up *upstream.Upstream, opts Options) *Server {
	cfg := up.Config()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialTimeout := opts.DialTimeout
	if dialTimeout == 0 {
		dialTimeout = cfg.ConnectTimeout
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = cfg.IdleTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		up:         up,
		log:        log,
		dialer:     net.Dialer{Timeout: dialTimeout},
		tls:        opts.TLS,
		alog:       opts.AccessLog,
		idle:       idle,
		maxConns:   int64(cfg.CircuitBreaker.MaxRequests),
		ipHash:     cfg.LB == config.LBIPHash,
		limit:      ratelimit.New(cfg.RateLimit, up.Now),
		dialCtx:    ctx,
		cancelDial: cancel,
		sessions:   map[*session]struct{}{},
	}
}

// ServeConn serves c on a new goroutine and reports true, or reports
// false (leaving c to the caller) once Shutdown or Close was called. c
// may be the accept loop's *accept.Conn: the pair then copies on the
// connection inside it (splice(2) needs the *net.TCPConn) and closes it
// through the wrapper, which frees its max_connections slot.
func (s *Server) ServeConn(c net.Conn) bool {
	sess := s.track(c)
	if sess == nil {
		return false
	}
	go s.serve(sess)
	return true
}

// Serve accepts connections on ln with the sidecar's accept loop (package
// accept) until Shutdown or Close, and returns ErrServerClosed then (or
// ln's error if it fails otherwise). ln is closed when Serve returns. The
// sidecar hands connections to ServeConn; Serve is for tests.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.lns.Serve(ln, accept.Options{Logger: s.log, Name: s.up.Name()}, s); err != nil {
		return err
	}
	return ErrServerClosed
}

func (s *Server) shuttingDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers a new client connection, or returns nil when the server
// is shutting down. The WaitGroup's Add happens under mu, before closing is
// set, so Shutdown's Wait never races an Add.
func (s *Server) track(c net.Conn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	sess := &session{client: c, closer: c, done: make(chan struct{})}
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		sess.client = nc.NetConn()
	}
	s.sessions[sess] = struct{}{}
	s.handlers.Add(1)
	s.active.Add(1)
	return sess
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.active.Add(-1)
	s.handlers.Done()
}

// ActiveConns is the number of client connections being served: connecting
// or relaying.
func (s *Server) ActiveConns() int { return int(s.active.Load()) }

// Shutdown stops accepting (closing every listener Serve runs on) and lets
// open connection pairs run until they end by themselves or ctx ends. It
// returns nil when they all ended; else it closes what remains, cancels
// connects in progress, waits for their goroutines to finish, and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		s.lns.Close()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelDial()
		return nil
	case <-ctx.Done():
	}
	s.cancelDial()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.end(endShutdown)
	}
	s.mu.Unlock()
	<-done // prompt: every socket is closed and every connect cancelled
	return ctx.Err()
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	return nil
}
