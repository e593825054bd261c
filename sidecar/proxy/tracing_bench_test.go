package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// BenchmarkServeHTTPTracing is the request path's cost with tracing at
// sample ratios 0, 0.01 and 1 (spans batched to an exporter that drops
// them; the sampler Setup configures), with a caller's unsampled trace,
// and with a real OTLP/gRPC exporter aimed at a closed port: an
// unreachable collector must cost no more than a reachable one, since
// export happens off the request path.
func BenchmarkServeHTTPTracing(b *testing.B) {
	// traceparent: the caller's header; "" makes the sidecar start traces,
	// so the sample ratio alone decides.
	run := func(b *testing.B, tr *tracing.Tracing, traceparent string) {
		cfg := config.DefaultUpstream()
		cfg.Name = "payments"
		h := benchHandler(b, cfg)
		h.tr = tr
		req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
		req.RemoteAddr = "127.0.0.1:50000"
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		w := &discardWriter{h: make(http.Header, 8)}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil, "") })
	prop, _ := tracing.Propagator([]string{"tracecontext", "baggage"})
	ratio := func(b *testing.B, ratio float64, traceparent string) {
		tr := tracing.NewRatio(ratio, prop, nil, sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer tr.Shutdown(context.Background())
		run(b, tr, traceparent)
	}
	for _, r := range []float64{0, 0.01, 1} {
		b.Run(fmt.Sprintf("ratio=%v", r), func(b *testing.B) { ratio(b, r, "") })
	}
	// A caller's trace it did not sample (the mesh's usual case on an
	// inbound listener): its context is extracted, then passed on.
	b.Run("ratio=0.01,unsampled-caller", func(b *testing.B) {
		ratio(b, 0.01, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	})
	b.Run("ratio=1/closed-collector", func(b *testing.B) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		closed := ln.Addr().String()
		ln.Close()
		cfg := config.Tracing{Exporter: "otlp", Endpoint: closed, Protocol: "grpc", Insecure: true,
			SampleRatio: 1, Propagators: []string{"tracecontext", "baggage"}}
		tr, err := tracing.Setup(context.Background(), cfg, config.Service{Name: "bench"}, tracing.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 0)
			defer cancel()
			tr.Shutdown(ctx)
		}()
		run(b, tr, "")
	})
}
