package proxy

import (
	"net"
	"net/http"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Transport sends one request to the endpoint named by req.URL.Host and
// returns the response head with a streaming body. It is the seam between
// the request path (pick, admit, finish) and the wire: the standard
// library's pooled HTTP/1.1 client stands behind it now, and a leaner
// forwarder can replace it without touching the handler.
// RoundTrip is called concurrently from request goroutines.
type Transport interface {
	RoundTrip(req *http.Request) (*http.Response, error)
	// CloseIdleConnections drops pooled connections (on reload or
	// endpoint removal).
	CloseIdleConnections()
}

// tcpKeepAlive probes pooled upstream connections so that a peer that
// vanished without a FIN is noticed.
const tcpKeepAlive = 30 * time.Second

// NewHTTP1Transport returns a pooled HTTP/1.1 client for one upstream:
// max_idle_per_endpoint idle connections per endpoint (0 disables reuse),
// closed after idle_timeout; connect_timeout bounds each dial.
func NewHTTP1Transport(cfg config.Upstream) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: tcpKeepAlive}
	return &http.Transport{
		Proxy:               nil, // never route upstream traffic through HTTP_PROXY
		DialContext:         dialer.DialContext,
		MaxIdleConns:        0, // no global cap; the per-endpoint one applies
		MaxIdleConnsPerHost: cfg.MaxIdlePerEndpoint,
		DisableKeepAlives:   cfg.MaxIdlePerEndpoint == 0,
		IdleConnTimeout:     cfg.IdleTimeout,
		// The body passes through untouched: no Accept-Encoding added, no
		// transparent decompression.
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
}
