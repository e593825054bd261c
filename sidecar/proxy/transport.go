package proxy

import "net/http"

// Transport sends one request to the endpoint named by req.URL.Host and
// returns the answer's head with a streaming body. It is the seam between
// the request path (admit, attempt, finish) and the wire: h1.Client for
// protocol http, h2c's net/http transport for http2. RoundTrip is called
// concurrently from request goroutines.
type Transport interface {
	RoundTrip(req *http.Request) (*http.Response, error)
	// CloseIdleConnections drops pooled connections (on reload and
	// shutdown).
	CloseIdleConnections()
}
