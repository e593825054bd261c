package h2c

import (
	"net"
	"net/http"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Ping health checks of pooled h2c connections (golang/go#36026): a
// connection on which nothing was received for h2PingAfter gets a PING; if
// no answer comes within h2PingTimeout the connection is closed, and the
// streams on it fail as resets (so the outlier detector hears of it)
// instead of hanging until the request timeout. A half-open connection to
// an endpoint that vanished without a FIN is gone within ~15s, well before
// TCP keep-alive (TCPKeepAlive) would notice.
// TCPKeepAlive probes pooled upstream connections so that a peer that
// vanished without a FIN is noticed.
const TCPKeepAlive = 30 * time.Second

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
func NewTransport(cfg config.Upstream, maxHeaderBytes int) *http.Transport {
	return NewTransportPinging(cfg, maxHeaderBytes, h2PingAfter, h2PingTimeout)
}

// NewTransportPinging is NewTransport with the ping timings as
// parameters, so a test can watch a dead connection being dropped in
// milliseconds.
func NewTransportPinging(cfg config.Upstream, maxHeaderBytes int, pingAfter, pingTimeout time.Duration) *http.Transport {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = 64 << 10
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: TCPKeepAlive}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Proxy:             nil, // never route upstream traffic through HTTP_PROXY
		DialContext:       dialer.DialContext,
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
	}
}
