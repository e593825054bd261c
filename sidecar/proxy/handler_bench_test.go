package proxy

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// cannedTransport answers every request in memory with a 1 KiB body, so the
// benchmark measures the request path (pick, build, stream, account), not
// the network or the standard library's client.
type cannedTransport struct{ body []byte }

type cannedBody struct{ bytes.Reader }

func (*cannedBody) Close() error { return nil }

func (c *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := &cannedBody{}
	b.Reset(c.body)
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"1024"}},
		Body:          b,
		ContentLength: int64(len(c.body)),
	}, nil
}

func (c *cannedTransport) CloseIdleConnections() {}

// discardWriter is the cheapest http.ResponseWriter: it keeps one header
// map and drops the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func benchHandler(b *testing.B, cfg config.Upstream) *Handler {
	up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static"})
	if err != nil {
		b.Fatal(err)
	}
	up.Update([]discovery.Instance{
		{Address: "10.0.0.1:80", ID: "a", Healthy: true},
		{Address: "10.0.0.2:80", ID: "b", Healthy: true},
		{Address: "10.0.0.3:80", ID: "c", Healthy: true},
	})
	return NewHandler(up, &cannedTransport{body: bytes.Repeat([]byte("x"), 1024)}, Options{})
}

// BenchmarkServeHTTP is the request path's cost without the network, with
// every default on (least_conn, outlier detection, breaker, retries with
// their budget); its allocs/op is the figure features are held to
// (Foundation: 15; the resilience work may add at most 2).
func BenchmarkServeHTTP(b *testing.B) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	serveBench(b, benchHandler(b, cfg))
}

// serveBench runs b.N requests like a small GET from an app through h.
func serveBench(b *testing.B, h *Handler) {
	b.Helper()
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

var _ io.Reader = (*cannedBody)(nil)
