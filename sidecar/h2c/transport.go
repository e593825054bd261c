package h2c

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
)

// Ping health checks of pooled h2c connections (golang/go#36026): a
// connection on which nothing was received for h2PingAfter gets a PING; if
// no answer comes within h2PingTimeout the connection is closed, and the
// streams on it fail as resets (so the outlier detector hears of it)
// instead of hanging until the request timeout. A half-open connection to
// an endpoint that vanished without a FIN is gone within ~15s, well before
// TCP keep-alive (h1.TCPKeepAlive) would notice.
const (
	h2PingAfter   = 10 * time.Second
	h2PingTimeout = 5 * time.Second
)

// NewTransport returns the client of protocol http2: HTTP/2 over plain
// TCP with prior knowledge (h2c, no Upgrade dance) to every endpoint, one
// multiplexed connection per endpoint (another is opened when the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS is reached). connect_timeout bounds each
// dial, idle_timeout closes a connection with no streams, and
// max_idle_per_endpoint 0 makes every connection single-use, as for
// HTTP/1.1; other values do not apply (a connection carries many streams).
//
// It is net/http's Transport with Protocols = {UnencryptedHTTP2} rather
// than golang.org/x/net/http2.Transport: the same HTTP/2 code (net/http
// bundles it, and x/net's Transport wraps net/http's from Go 1.27 on),
// with the dialer, timeouts and header limits configured as in
// the HTTP/1.1 client.
//
// maxHeaderBytes bounds an answer's header list
// (limits.max_response_header_bytes; it is advertised to the endpoint as
// SETTINGS_MAX_HEADER_LIST_SIZE, and a larger one fails the stream with
// PROTOCOL_ERROR); <= 0 means 64 KiB.
//
// With tlsCfg (a mesh upstream: docs/connect.md), each connection is
// mTLS with ALPN h2, dialed and handshaken by h1.Dial; HTTP/2 then runs
// over it with prior knowledge, which on the wire is HTTP/2 over TLS.
func NewTransport(cfg config.Upstream, maxHeaderBytes int, tlsCfg *tls.Config) *Transport {
	return newTransport(cfg, maxHeaderBytes, tlsCfg, h2PingAfter, h2PingTimeout)
}

// NewTransportPinging is NewTransport with the ping timings as
// parameters, so a test can watch a dead connection being dropped in
// milliseconds.
func NewTransportPinging(cfg config.Upstream, maxHeaderBytes int, pingAfter, pingTimeout time.Duration) *Transport {
	return newTransport(cfg, maxHeaderBytes, nil, pingAfter, pingTimeout)
}

func newTransport(cfg config.Upstream, maxHeaderBytes int, tlsCfg *tls.Config, pingAfter, pingTimeout time.Duration) *Transport {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = 64 << 10
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: h1.TCPKeepAlive}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &Transport{&http.Transport{
		Proxy: nil, // never route upstream traffic through HTTP_PROXY
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return h1.Dial(ctx, dialer, addr, tlsCfg)
		},
		Protocols:         protocols,
		DisableKeepAlives: cfg.MaxIdlePerEndpoint == 0,
		IdleConnTimeout:   cfg.IdleTimeout,
		// The body passes through untouched: no Accept-Encoding added, no
		// transparent decompression.
		DisableCompression:     true,
		MaxResponseHeaderBytes: int64(maxHeaderBytes),
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: pingAfter,
			PingTimeout:     pingTimeout,
		},
	}}
}

// Transport is protocol http2's client: net/http's HTTP/2 client, with its
// failures told in the words the request path uses for every transport
// (h1.Client's): an endpoint that breaks HTTP/2 — a stream or connection
// error of type PROTOCOL_ERROR or COMPRESSION_ERROR (a header list over the
// limit), a final :status outside 200–999, which net/http's client does not
// check — is an *h1.ProtocolError; a request whose headers are larger than
// the endpoint accepts is an *h1.RequestError (431), the client's.
type Transport struct{ *http.Transport }

// RoundTrip implements the request path's Transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Transport.RoundTrip(req)
	if err != nil {
		return nil, typed(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 999 {
		resp.Body.Close()
		return nil, &h1.ProtocolError{Reason: "HTTP/2 answer with an invalid :status"}
	}
	resp.Body = typedBody{resp.Body}
	return resp, nil
}

// typed turns net/http's HTTP/2 client errors, which have no exported
// types for these cases (hence the text), into the request path's.
func typed(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "PROTOCOL_ERROR"), strings.Contains(s, "COMPRESSION_ERROR"):
		return fmt.Errorf("%w (%v)", &h1.ProtocolError{Reason: "HTTP/2 protocol error"}, err)
	case strings.Contains(s, "request header list larger than"):
		return fmt.Errorf("%w (%v)", &h1.RequestError{Status: http.StatusRequestHeaderFieldsTooLarge,
			Reason: "request headers larger than the endpoint accepts"}, err)
	}
	return err
}

// typedBody is an answer's body whose read errors are typed too (a stream
// reset mid-body).
type typedBody struct{ io.ReadCloser }

func (b typedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = typed(err)
	}
	return n, err
}
