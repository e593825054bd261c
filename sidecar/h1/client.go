package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Client is the HTTP/1.1 client of one upstream: a pool of keep-alive
// connections per endpoint, request heads written straight to a buffered
// connection and answers read with the same lexer and framing rules the
// Server applies to requests (no net/http client machinery: no goroutine
// per connection, no connection-state channels).
//
// The rules that keep one request's answer from reaching another: an
// answer that breaks framing is a *ProtocolError and its connection is
// closed; a body read to its end with more bytes behind it fails the same
// way; a pooled connection is checked before reuse and closed if the
// upstream sent anything while it was idle. A request is sent a second
// time (on a fresh connection, when a pooled one turns out closed) only if
// it has no body, and either nothing of it was written or it is
// idempotent; anything else fails for the caller's retry rules.
//
// Limits, on purpose: the request body is written completely before the
// answer is read (an upstream that answers early and stops reading a large
// body fails the attempt); no HTTP/2, proxying or TLS.
//
// RoundTrip, CloseIdleConnections and Forget may be called concurrently.
type Client struct {
	tls            *tls.Config // nil: plaintext
	dialer         net.Dialer
	maxIdle        int
	idleTimeout    time.Duration
	streamIdle     time.Duration
	maxHeaderBytes int
	maxInterim     int
	log            *slog.Logger
	// pools maps an endpoint address to its *connPool. A sync.Map: after
	// an endpoint's first request every lookup is a read, lock-free.
	pools  sync.Map
	closed atomic.Bool // Close was called: nothing is pooled any more
}

// TCPKeepAlive is how often an idle upstream connection is probed, so that
// a peer that vanished without a FIN is noticed (the h2c client uses it
// too).
const TCPKeepAlive = 30 * time.Second

// ClientOptions configure a Client.
type ClientOptions struct {
	ConnectTimeout time.Duration // bounds each dial (connect_timeout)
	KeepAlive      time.Duration // TCP keep-alive probes; 0 = TCPKeepAlive
	// MaxIdlePerEndpoint idle connections are kept per endpoint; 0
	// disables reuse (max_idle_per_endpoint).
	MaxIdlePerEndpoint int
	// IdleTimeout closes a pooled connection idle for longer (idle_timeout).
	IdleTimeout time.Duration
	// StreamIdleTimeout fails a request whose connection moved no byte
	// either way for this long (limits.stream_idle_timeout); 0 = none.
	StreamIdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds all the heads of one answer, 1xx ones
	// included (limits.max_response_header_bytes); <= 0 means
	// DefaultMaxHeaderBytes.
	MaxResponseHeaderBytes int
	// MaxInformational is how many 1xx responses may come before the final
	// one (limits.max_informational_responses).
	MaxInformational int
	// TLS, when set, wraps every connection (a mesh upstream's mTLS);
	// nil: plaintext.
	TLS    *tls.Config
	Logger *slog.Logger // debug lines for connections dropped; nil discards
}

// NewClient returns a client with opts.
func NewClient(opts ClientOptions) *Client {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxHead := opts.MaxResponseHeaderBytes
	if maxHead <= 0 {
		maxHead = DefaultMaxHeaderBytes
	}
	keepAlive := opts.KeepAlive
	if keepAlive == 0 {
		keepAlive = TCPKeepAlive
	}
	return &Client{
		dialer:         net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: keepAlive},
		maxIdle:        max(opts.MaxIdlePerEndpoint, 0),
		idleTimeout:    opts.IdleTimeout,
		streamIdle:     opts.StreamIdleTimeout,
		maxHeaderBytes: maxHead,
		maxInterim:     max(opts.MaxInformational, 0),
		tls:            opts.TLS,
		log:            log,
	}
}

// connPool holds one endpoint's idle connections; a buffered channel is
// the free list, so getting and putting take no lock of ours.
type connPool struct {
	addr string
	idle chan *upConn
}

func (cl *Client) pool(addr string) *connPool {
	if p, ok := cl.pools.Load(addr); ok {
		return p.(*connPool)
	}
	p, _ := cl.pools.LoadOrStore(addr, &connPool{addr: addr, idle: make(chan *upConn, cl.maxIdle)})
	return p.(*connPool)
}

// get returns a pooled connection fit for a request, or nil. One that
// idled too long, that the upstream closed, or on which the upstream sent
// something unasked is closed instead.
func (cl *Client) get(p *connPool) *upConn {
	for {
		select {
		case c := <-p.idle:
			if cl.idleTimeout > 0 && time.Since(c.lastUsed) > cl.idleTimeout {
				c.Close()
				continue
			}
			if !c.quiet() {
				if cl.log.Enabled(context.Background(), slog.LevelDebug) {
					cl.log.Debug("h1: closing an idle upstream connection that the endpoint closed or sent unasked bytes on",
						"endpoint", p.addr)
				}
				c.Close()
				continue
			}
			return c
		default:
			return nil
		}
	}
}

func (cl *Client) put(p *connPool, c *upConn) {
	if cl.closed.Load() {
		c.Close() // a retired client: requests that outlived its drain leave nothing behind
		return
	}
	if cur, ok := cl.pools.Load(p.addr); !ok || cur != p {
		c.Close() // the endpoint was forgotten while this request ran
		return
	}
	c.lastUsed = time.Now()
	select {
	case p.idle <- c:
	default:
		c.Close()
	}
}

// CloseIdleConnections closes every pooled connection (on reload and
// shutdown).
func (cl *Client) CloseIdleConnections() {
	cl.pools.Range(func(_, p any) bool {
		drainPool(p.(*connPool))
		return true
	})
}

// Close closes every pooled connection and pools none from now on: a
// request still running finishes, and its connection is then closed. For
// a client being retired (reload, shutdown).
func (cl *Client) Close() {
	cl.closed.Store(true)
	cl.CloseIdleConnections()
}

// Forget closes the idle connections to addr and drops its pool: the
// endpoint has left the upstream. A request still running to it finishes;
// its connection is then closed, not pooled.
func (cl *Client) Forget(addr string) {
	if p, ok := cl.pools.LoadAndDelete(addr); ok {
		drainPool(p.(*connPool))
	}
}

func drainPool(p *connPool) {
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}

// RoundTrip sends req to the endpoint req.URL.Host and reads the answer's
// head; the body streams from the connection. Errors: a dial error
// (*net.OpError, Op "dial"), a *ProtocolError, a *RequestBodyError (the
// request's own body failed), a *NotSentError around a failure before any
// byte was written, or the connection's error — wrapped together with the
// context's error when req's context ended.
//
// A 101 answer to a request with Upgrade, or a 2xx to a CONNECT, leaves the
// connection to the caller: the body then reads and writes the raw
// connection (it implements io.Writer and CloseWrite).
func (cl *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	return cl.RoundTripContext(req.Context(), req)
}

// RoundTripContext is RoundTrip under ctx rather than req's context (a
// proxy then need not copy its request to set one). The client keeps
// nothing of req once the answer's body is done (read to its end or
// closed; a tunnel's: closed), so the caller may reuse req's storage then.
func (cl *Client) RoundTripContext(ctx context.Context, req *http.Request) (*http.Response, error) {
	p := cl.pool(req.URL.Host)
	if c := cl.get(p); c != nil {
		resp, err := cl.exchange(ctx, p, c, req, true)
		if err != errStale {
			return resp, err
		}
	}
	nc, err := Dial(ctx, &cl.dialer, req.URL.Host, cl.tls)
	if err != nil {
		return nil, err
	}
	return cl.exchange(ctx, p, newUpConn(nc, cl.streamIdle), req, false)
}

// exchange writes req on c and reads the answer's head.
func (cl *Client) exchange(ctx context.Context, p *connPool, c *upConn, req *http.Request, reused bool) (*http.Response, error) {
	c.begin(ctx)
	written, read := c.written, c.read
	fail := func(err error, sent bool) (*http.Response, error) {
		c.endWatch()
		c.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		if !sent {
			err = &NotSentError{Err: err}
		}
		return nil, err
	}
	if err := writeRequest(c.bw, req); err != nil {
		sent := c.written > written
		var be *RequestBodyError
		if reused && !sent && !errors.As(err, &be) && isReset(err) && !hasBody(req) {
			// The upstream closed the pooled connection; it saw nothing.
			// (With a body, some of it may have been read from the client
			// into the buffers already: it cannot go again from here. The
			// caller's retry gate sees a NotSentError and decides.)
			c.endWatch()
			c.Close()
			return nil, errStale
		}
		return fail(err, sent)
	}
	// The upstream has only just been handed the request: a read now
	// would most likely find nothing (a failed system call and a park).
	// Other connections' work goes first; by then the answer is usually
	// in (see conn.awaitRequest for the same on the client side).
	runtime.Gosched()
	resp, b, err := cl.readResponse(c, req)
	if err != nil {
		if reused && c.read == read && isReset(err) && ctx.Err() == nil && resendable(req) {
			// Closed before answering: it may have seen the request, so
			// only a request that is safe to repeat goes again.
			c.endWatch()
			c.Close()
			return nil, errStale
		}
		if !reused && c.read == read && isTLSRefusal(err) {
			// A TLS 1.3 peer checks our certificate after our side of
			// the handshake is done, so its refusal arrives as an alert
			// on the first read. It processed nothing: a failed dial.
			return fail(&net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: fmt.Errorf("mTLS handshake: %w", err)}, false)
		}
		return fail(err, true)
	}
	b.p = p
	switch {
	case b.tunnel:
		c.endWatch() // the tunnel outlives the request's context; the idle timeout stays
		c.endRequestDeadline()
	case b.none:
		if c.br.Buffered() > 0 {
			// Bytes after an answer that has no body: a body on a HEAD,
			// 204 or 304 answer, or worse.
			return fail(protocolError(reasonExtraBytes), true)
		}
		resp.Body = http.NoBody
		b.finish(b.keep)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// resendable: a request that may go again after the upstream may have
// received it — idempotent (RFC 9110 §9.2.2) and without a body.
func resendable(req *http.Request) bool { return Idempotent(req.Method) && !hasBody(req) }

func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
}

// Idempotent reports whether a request with this method may be applied
// twice with the effect of once (RFC 9110 §9.2.2). A request with any
// other method (POST, PATCH, CONNECT) is sent at most once unless the
// connection was never written to.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
