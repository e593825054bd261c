package proxy

import (
	"net/http"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/tracing"
)

func TestSpanNames(t *testing.T) {
	n := newSpanNames("payments")
	for _, m := range append(spanMethods[:], "PROPFIND", "get", "") {
		if got, want := n.name(m), m+" payments"; got != want {
			t.Errorf("%q: %q, want %q", m, got, want)
		}
	}
}

// tracedRequest is the benchmarks' request, served by a handler with tr.
func tracedRequest(t *testing.T, tr *tracing.Tracing, opts Options) (*Handler, *http.Request, *discardWriter) {
	t.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	opts.Tracing = tr
	h := benchHandlerOpts(t, cfg, opts)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	return h, req, &discardWriter{h: make(http.Header, 8)}
}

// A span that records has the name, kind and first attributes the
// request path gives it — set once it is known to record, where they
// used to be passed to Start: the upstream, the method, the retries (0
// until a retry), then a routing listener's listener and route.
func TestRecordedSpanNameAndAttributes(t *testing.T) {
	for _, c := range []struct {
		name    string
		inbound bool
		via     *Via
		kind    trace.SpanKind
		attrs   []attribute.KeyValue
	}{
		{"own listener", false, nil, trace.SpanKindClient, []attribute.KeyValue{
			tracing.AttrUpstream.String("payments"), tracing.AttrMethod.String("GET"), tracing.AttrRetries.Int(0)}},
		{"inbound", true, nil, trace.SpanKindServer, []attribute.KeyValue{
			tracing.AttrUpstream.String("payments"), tracing.AttrMethod.String("GET"), tracing.AttrRetries.Int(0)}},
		{"routing listener", false, &Via{Listener: "edge", Route: "api"}, trace.SpanKindClient, []attribute.KeyValue{
			tracing.AttrUpstream.String("payments"), tracing.AttrMethod.String("GET"), tracing.AttrRetries.Int(0),
			tracing.AttrListener.String("edge"), tracing.AttrRoute.String("api")}},
	} {
		rec := tracetest.NewSpanRecorder()
		prop, _ := tracing.Propagator([]string{"tracecontext", "baggage"})
		h, req, w := tracedRequest(t, tracing.NewRatio(1, prop, nil, sdktrace.WithSpanProcessor(rec)), Options{Inbound: c.inbound})
		if c.via != nil {
			h.ServeVia(w, req, c.via)
		} else {
			h.ServeHTTP(w, req)
		}
		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", c.name, len(spans))
		}
		s := spans[0]
		a := s.Attributes()
		if s.Name() != "GET payments" || s.SpanKind() != c.kind || len(a) < len(c.attrs) || !slices.Equal(a[:len(c.attrs)], c.attrs) {
			t.Errorf("%s: span %q kind %v attributes %v, want %v first", c.name, s.Name(), s.SpanKind(), a, c.attrs)
		}
	}
}

// A request that is sampled out allocates what a request without tracing
// does and three more: its span and its context (tracing.Start) and the
// traceparent it hands on (tracing.Inject, into outbound's header); with
// a caller's trace, two more: the caller's span context and its context
// (the traceparent's Extract).
func TestSampledOutAllocs(t *testing.T) {
	prop, _ := tracing.Propagator([]string{"tracecontext", "baggage"})
	sampledOut := tracing.NewRatio(0, prop, nil)
	allocs := func(tr *tracing.Tracing, traceparent string) float64 {
		h, req, w := tracedRequest(t, tr, Options{})
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		return testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
	}
	off := allocs(nil, "")
	for _, c := range []struct {
		name        string
		traceparent string
		more        float64
	}{
		{"new trace", "", 3},
		{"caller's trace, not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 5},
	} {
		if n := allocs(sampledOut, c.traceparent); n > off+c.more {
			t.Errorf("%s: %v allocations, %v without tracing; want at most %v more", c.name, n, off, c.more)
		}
	}
}
