package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// FastTransport is a lean HTTP/1.1 client for one upstream: a pool of
// keep-alive connections per endpoint, request heads written straight to
// a buffered connection, response heads parsed without net/http's client
// machinery (no per-request goroutines, no connection-state channels).
// It is what protocol http uses; NewHTTP1Transport (net/http's client) stays
// for reference and comparison.
//
// Limits, on purpose: the request body is written completely before the
// response is read (a proxy's upstream reads requests before answering;
// an upstream that answers early and stops reading a large body makes the
// attempt fail), and there is no HTTP/2, proxying or TLS.
type FastTransport struct {
	dialer      net.Dialer
	maxIdle     int
	idleTimeout time.Duration
	// pools maps an endpoint address to its *connPool. A sync.Map: after
	// an endpoint's first request every lookup is a read, lock-free.
	pools sync.Map
}

var _ Transport = (*FastTransport)(nil)

// NewFastTransport returns the transport of cfg (connect_timeout,
// max_idle_per_endpoint, idle_timeout).
func NewFastTransport(cfg config.Upstream) *FastTransport {
	return &FastTransport{
		dialer:      net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: tcpKeepAlive},
		maxIdle:     cfg.MaxIdlePerEndpoint,
		idleTimeout: cfg.IdleTimeout,
	}
}

// connPool holds one endpoint's idle connections; a buffered channel is
// the free list, so getting and putting take no lock of ours.
type connPool struct {
	addr string
	idle chan *upConn
}

type upConn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

const upBufSize = 4 << 10

func (t *FastTransport) pool(addr string) *connPool {
	if p, ok := t.pools.Load(addr); ok {
		return p.(*connPool)
	}
	p, _ := t.pools.LoadOrStore(addr, &connPool{addr: addr, idle: make(chan *upConn, max(t.maxIdle, 0))})
	return p.(*connPool)
}

// get returns a pooled connection that has not idled too long, or nil.
func (t *FastTransport) get(p *connPool) *upConn {
	for {
		select {
		case c := <-p.idle:
			if t.idleTimeout > 0 && time.Since(c.lastUsed) > t.idleTimeout {
				c.Close()
				continue
			}
			return c
		default:
			return nil
		}
	}
}

func (t *FastTransport) put(p *connPool, c *upConn) {
	if cur, ok := t.pools.Load(p.addr); !ok || cur != p {
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

func (t *FastTransport) dial(ctx context.Context, addr string) (*upConn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &upConn{Conn: nc, br: bufio.NewReaderSize(nc, upBufSize), bw: bufio.NewWriterSize(nc, upBufSize)}, nil
}

// CloseIdleConnections implements Transport.
func (t *FastTransport) CloseIdleConnections() {
	t.pools.Range(func(_, p any) bool {
		for c := t.get(p.(*connPool)); c != nil; c = t.get(p.(*connPool)) {
			c.Close()
		}
		return true
	})
}

// Forget closes the idle connections to addr and drops its pool: the
// endpoint has left the upstream (wired to upstream.OnRemoved). A request
// still running to it finishes; its connection is then closed, not pooled.
func (t *FastTransport) Forget(addr string) {
	if p, ok := t.pools.LoadAndDelete(addr); ok {
		for c := t.get(p.(*connPool)); c != nil; c = t.get(p.(*connPool)) {
			c.Close()
		}
	}
}

// errStale marks a pooled connection the upstream had already closed: the
// request never reached it and may be sent again on a fresh connection.
var errStale = errors.New("pooled connection was closed by the upstream")

// RoundTrip implements Transport: req.URL.Host is the endpoint.
func (t *FastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	p := t.pool(req.URL.Host)
	if c := t.get(p); c != nil {
		resp, err := t.exchange(ctx, p, c, req, true)
		if !errors.Is(err, errStale) {
			return resp, err
		}
	}
	c, err := t.dial(ctx, req.URL.Host)
	if err != nil {
		return nil, err
	}
	return t.exchange(ctx, p, c, req, false)
}

// exchange writes req on c and reads the response head. The connection
// goes back to the pool when the response body has been read to its end.
func (t *FastTransport) exchange(ctx context.Context, p *connPool, c *upConn, req *http.Request, reused bool) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	sentBody, err := writeRequest(c.bw, req)
	if err != nil {
		if reused && !sentBody && isReset(err) {
			stop()
			c.Close()
			return nil, errStale
		}
		return fail(err)
	}
	resp, err := readResponse(c.br, req)
	if err != nil {
		if reused && !sentBody && isReset(err) && c.br.Buffered() == 0 {
			stop()
			c.Close()
			return nil, errStale
		}
		return fail(err)
	}
	body := &upBody{t: t, p: p, c: c, stop: stop, keep: !resp.Close && !req.Close}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// The connection now belongs to whoever upgraded: hand it over.
		stop()
		resp.Body = &switchedConn{upConn: c}
		return resp, nil
	case !bodyAllowed(req, resp.StatusCode):
		body.r = eofReader{}
	case resp.ContentLength >= 0:
		body.r = io.LimitReader(c.br, resp.ContentLength)
	case len(resp.TransferEncoding) > 0:
		body.r = &chunkedBody{br: c.br, resp: resp}
	default:
		body.r = c.br // until the upstream closes
		body.keep = false
	}
	resp.Body = body
	if _, ok := body.r.(eofReader); ok || resp.ContentLength == 0 {
		body.finish(true) // nothing to read: the connection is free now
	}
	return resp, nil
}

func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

// bodyAllowed: HEAD answers, 1xx, 204 and 304 have no body (RFC 9112 §6.3).
func bodyAllowed(req *http.Request, status int) bool {
	return req.Method != http.MethodHead && status >= 200 && status != 204 && status != 304
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// upBody is a response body; when read to its end the connection returns
// to the pool, when closed early it is closed (its framing is unknown).
type upBody struct {
	t    *FastTransport
	p    *connPool
	c    *upConn
	r    io.Reader
	stop func() bool
	keep bool
	done bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		if lr, ok := b.r.(*io.LimitedReader); ok && lr.N > 0 {
			err = io.ErrUnexpectedEOF
		} else {
			b.finish(b.keep)
			return n, io.EOF
		}
	}
	if err != nil && err != io.EOF {
		b.finish(false)
	}
	return n, err
}

func (b *upBody) finish(reuse bool) {
	if b.done {
		return
	}
	b.done = true
	// stop is false when the request's context already fired: its deadline
	// poke may still land on the connection, so it must not be reused.
	if stopped := b.stop(); reuse && b.keep && stopped {
		b.c.SetDeadline(time.Time{})
		b.t.put(b.p, b.c)
		return
	}
	b.c.Close()
}

func (b *upBody) Close() error {
	b.finish(false)
	return nil
}

// switchedConn is the body of a 101 response: the raw connection, with
// whatever the upstream already sent after its head.
type switchedConn struct{ *upConn }

func (s *switchedConn) Read(p []byte) (int, error) { return s.br.Read(p) }

// writeRequest writes the head and body of req. sentBody reports whether
// any body byte was handed to the connection (then a retry on a fresh
// connection would send it twice).
func writeRequest(w *bufio.Writer, req *http.Request) (sentBody bool, err error) {
	uri := req.URL.RequestURI()
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				continue // never let CR/LF split the request
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	body := req.Body
	hasBody := body != nil && body != http.NoBody
	chunked := hasBody && req.ContentLength < 0
	switch {
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case req.ContentLength > 0 || (hasBody && req.ContentLength == 0 && methodWantsBody(req.Method)):
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n")
	case !hasBody && methodWantsBody(req.Method):
		w.WriteString("Content-Length: 0\r\n")
	}
	w.WriteString("\r\n")
	if !hasBody {
		return false, w.Flush()
	}
	defer body.Close()
	if !chunked {
		if err := w.Flush(); err != nil {
			return false, err
		}
		n, err := io.Copy(w, io.LimitReader(body, req.ContentLength))
		if err == nil && n < req.ContentLength {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return n > 0, err
		}
		return n > 0, w.Flush()
	}
	cw := httputilChunkedWriter{w: w}
	n, err := io.Copy(&cw, body)
	if err != nil {
		return n > 0, err
	}
	w.WriteString("0\r\n\r\n")
	return true, w.Flush()
}

// methodWantsBody: a POST, PUT or PATCH without a body still says
// Content-Length: 0, as clients do, so the upstream does not wait.
func methodWantsBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

type httputilChunkedWriter struct{ w *bufio.Writer }

func (c *httputilChunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.w.WriteString(strconv.FormatInt(int64(len(p)), 16))
	c.w.WriteString("\r\n")
	c.w.Write(p)
	c.w.WriteString("\r\n")
	return len(p), c.w.Flush()
}

func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// readResponse reads one response head (skipping 1xx interim responses
// other than 101) and sets up framing fields.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	tp := textproto.NewReader(br)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		proto, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
			return nil, fmt.Errorf("malformed status line %q", line)
		}
		code, err := strconv.Atoi(rest[:3])
		if err != nil || code < 100 || code > 999 {
			return nil, fmt.Errorf("malformed status line %q", line)
		}
		mh, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, err
		}
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			continue
		}
		resp := &http.Response{
			Status:     rest,
			StatusCode: code,
			Proto:      proto,
			ProtoMajor: 1,
			ProtoMinor: int(proto[len(proto)-1] - '0'),
			Header:     http.Header(mh),
			Request:    req,
		}
		return resp, frame(resp)
	}
}

// frame reads the response's framing headers (RFC 9112 §6): a single
// chunked Transfer-Encoding wins over Content-Length, which is removed;
// other codings and bad lengths are errors (an upstream must not be able
// to desynchronise the pooled connection).
func frame(resp *http.Response) error {
	h := resp.Header
	resp.ContentLength = -1
	resp.Close = resp.ProtoMinor == 0 && !headerHasToken(h["Connection"], "keep-alive")
	if headerHasToken(h["Connection"], "close") {
		resp.Close = true
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return fmt.Errorf("unsupported Transfer-Encoding %q", te)
		}
		resp.TransferEncoding = []string{"chunked"}
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length")
		for _, k := range h["Trailer"] {
			for _, name := range strings.Split(k, ",") {
				if name = strings.TrimSpace(name); name != "" {
					if resp.Trailer == nil {
						resp.Trailer = http.Header{}
					}
					resp.Trailer[textproto.CanonicalMIMEHeaderKey(name)] = nil
				}
			}
		}
		delete(h, "Trailer")
		return nil
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		for _, v := range cl[1:] {
			if v != cl[0] {
				return fmt.Errorf("conflicting Content-Length %q", cl)
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad Content-Length %q", cl[0])
		}
		resp.ContentLength = n
	}
	return nil
}
