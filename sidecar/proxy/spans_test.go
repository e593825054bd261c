package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/tracing"
)

func recordingTracing(t *testing.T) (*tracing.Tracing, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	prop, err := tracing.Propagator([]string{"tracecontext", "baggage"})
	if err != nil {
		t.Fatal(err)
	}
	return tracing.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), prop, nil), rec
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// One request that fails on one endpoint (which that failure ejects), is
// retried on the other, and succeeds: one CLIENT span, child of the
// caller's, with the contract's attributes, a retry event and an ejection event;
// the upstream gets the sidecar's span as parent and the caller's baggage.
func TestClientSpanOfARetriedRequest(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	bad := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	good := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		seen.Store(&h)
		io.WriteString(w, "ok")
	})
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.LB = "payments", "round_robin"
	cfg.Outlier.Consecutive5xx = 1
	tr, rec := recordingTracing(t)
	url, _ := frontWith(t, cfg, Options{Tracing: tr}, bad, good)

	req, _ := http.NewRequest("GET", url+"/pay", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("Baggage", "user=alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET payments" || s.SpanKind() != trace.SpanKindClient {
		t.Fatalf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("not a child of the caller's span: %v parent %v", s.SpanContext(), s.Parent())
	}
	a := attrs(s)
	goodHost, goodPort, _ := strings.Cut(good, ":")
	if a[tracing.AttrUpstream].AsString() != "payments" || a[tracing.AttrMethod].AsString() != "GET" ||
		a[tracing.AttrStatus].AsInt64() != 200 || a[tracing.AttrRetries].AsInt64() != 1 ||
		a[tracing.AttrServerAddr].AsString() != goodHost || a[tracing.AttrServerPort].String() != goodPort {
		t.Fatalf("attributes %v", a)
	}
	if _, ok := a[tracing.AttrErrorType]; ok {
		t.Fatalf("error.type on a success: %v", a)
	}
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "outlier.ejection,retry" {
		t.Fatalf("events %v, want the ejection then the retry", names)
	}

	h := *seen.Load()
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext().SpanID().String() + "-01"
	if h.Get("Traceparent") != want || h.Get("Baggage") != "user=alice" {
		t.Fatalf("upstream got traceparent %q baggage %q, want %q", h.Get("Traceparent"), h.Get("Baggage"), want)
	}
}

func TestLocalReplySpan(t *testing.T) {
	tr, rec := recordingTracing(t)
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	url, _ := frontWith(t, cfg, Options{Tracing: tr}) // no endpoints
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := rec.Ended()[0]
	a := attrs(s)
	// outrigger.retries is on every client span, 0 without a retry
	// (regression: it was set only when a retry happened).
	if r, ok := a[tracing.AttrRetries]; !ok || r.AsInt64() != 0 {
		t.Fatalf("outrigger.retries %v (present %v), want 0", r.AsInt64(), ok)
	}
	if a[tracing.AttrErrorType].AsString() != "no_healthy_upstream" || a[tracing.AttrStatus].AsInt64() != 503 ||
		len(s.Events()) != 1 || s.Events()[0].Name != "local_reply" || s.Status().Code.String() != "Error" {
		t.Fatalf("span %v events %v status %v", a, s.Events(), s.Status())
	}
}

func TestInboundSpanIsServerKind(t *testing.T) {
	tr, rec := recordingTracing(t)
	cfg := config.DefaultUpstream()
	cfg.Name = "inbound"
	app := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	url, _ := frontWith(t, cfg, Options{Tracing: tr, Inbound: true}, app)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := rec.Ended()[0]; s.SpanKind() != trace.SpanKindServer || s.Parent().IsValid() {
		t.Fatalf("inbound span kind %v parent %v", s.SpanKind(), s.Parent())
	}
}
