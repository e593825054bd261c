package proxy

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// benchHandlerOpts is benchHandler with handler options.
func benchHandlerOpts(tb testing.TB, cfg config.Upstream, opts Options) *Handler {
	up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static"})
	if err != nil {
		tb.Fatal(err)
	}
	up.Update([]discovery.Instance{
		{Address: "10.0.0.1:80", ID: "a", Healthy: true},
		{Address: "10.0.0.2:80", ID: "b", Healthy: true},
		{Address: "10.0.0.3:80", ID: "c", Healthy: true},
	})
	return NewHandler(up, &cannedTransport{body: bytes.Repeat([]byte("x"), 1024)}, opts)
}

// BenchmarkServeHTTPAccessLog is BenchmarkServeHTTP with the access log on,
// off (a Sink without a Logger) and absent, side by side: the request
// path's added cost of a line (the writer formats and writes on its own
// goroutine, to a file in the temp dir as `path: FILE` would).
func BenchmarkServeHTTPAccessLog(b *testing.B) {
	for _, mode := range []string{"absent", "off", "on-file"} {
		b.Run(mode, func(b *testing.B) {
			var sink *accesslog.Sink
			switch mode {
			case "off":
				sink = accesslog.NewSink()
			case "on-file":
				sink = accesslog.NewSink()
				l, err := accesslog.New(config.AccessLog{Enabled: true, Path: b.TempDir() + "/access.log", Format: accesslog.FormatJSON},
					accesslog.Options{Dropped: sink.Dropped()})
				if err != nil {
					b.Fatal(err)
				}
				sink.Swap(l)
				defer l.Close(context.Background())
			}
			cfg := config.DefaultUpstream()
			cfg.Name = "payments"
			h := benchHandlerOpts(b, cfg, Options{AccessLog: sink})
			req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
			req.RemoteAddr = "127.0.0.1:50000"
			req.RequestURI = "/pay?id=1" // as a server sets it
			req.Header.Set("User-Agent", "bench")
			req.Header.Set("Accept", "*/*")
			w := &discardWriter{h: make(http.Header, 8)}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.StopTimer()
			if sink != nil && b.N > 0 {
				b.ReportMetric(float64(sink.DroppedTotal())/float64(b.N), "dropped/op")
			}
		})
	}
}
