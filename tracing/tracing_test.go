package tracing

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

const (
	knownTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	knownParent = "00f067aa0ba902b7"
)

func recorderTracing(t *testing.T, propagators ...string) (*Tracing, *tracetest.SpanRecorder, *bytes.Buffer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop, err := Propagator(propagators)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	return New(tp, prop, slog.New(slog.NewTextHandler(&logs, nil))), rec, &logs
}

func TestStartContinuesTheCallersTraceAndInjectsOwnSpan(t *testing.T) {
	tr, rec, _ := recorderTracing(t, "tracecontext", "baggage")
	in := http.Header{}
	in.Set("Traceparent", "00-"+knownTrace+"-"+knownParent+"-01")
	in.Set("Baggage", "user=alice,tenant=t1")
	ctx, span := tr.Start(context.Background(), in, trace.SpanKindClient, "GET payments")
	out := http.Header{"Traceparent": in["Traceparent"], "Baggage": in["Baggage"]} // as copied end to end
	tr.Inject(ctx, out)
	span.End()

	sc := span.SpanContext()
	if sc.TraceID().String() != knownTrace {
		t.Fatalf("trace id %s, want the caller's", sc.TraceID())
	}
	want := "00-" + knownTrace + "-" + sc.SpanID().String() + "-01"
	if got := out.Get("Traceparent"); got != want {
		t.Fatalf("injected traceparent %q, want %q (the sidecar's span as parent)", got, want)
	}
	if b, _ := baggage.Parse(out.Get("Baggage")); b.Member("user").Value() != "alice" || b.Member("tenant").Value() != "t1" {
		t.Fatalf("baggage %q not passed on", out.Get("Baggage"))
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Parent().SpanID().String() != knownParent || spans[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("spans %+v", spans)
	}
}

func TestInvalidHeadersStartAFreshTrace(t *testing.T) {
	for _, tp := range []string{
		"00-" + knownTrace + "-" + knownParent,                          // too short
		"00-" + strings.ToUpper(knownTrace) + "-" + knownParent + "-01", // upper-case hex
		"00-00000000000000000000000000000000-" + knownParent + "-01",    // all-zero trace id
		"00-" + knownTrace + "-0000000000000000-01",                     // all-zero span id
		"ff-" + knownTrace + "-" + knownParent + "-01",                  // version ff
		"00-" + knownTrace + "-" + knownParent + "-01-extra",            // version 00 has no extra fields
		"0-" + knownTrace + "-" + knownParent + "-01",                   // short version
		"00-" + knownTrace + "x-" + knownParent + "-01",                 // bad length
		"00_" + knownTrace + "_" + knownParent + "_01",                  // wrong separators
	} {
		tr, rec, logs := recorderTracing(t, "tracecontext", "baggage")
		in := http.Header{"Traceparent": {tp}}
		_, span := tr.Start(context.Background(), in, trace.SpanKindClient, "GET x")
		span.End()
		got := rec.Ended()[0]
		if got.SpanContext().TraceID().String() == knownTrace || got.Parent().IsValid() {
			t.Errorf("traceparent %q was accepted", tp)
		}
		if !strings.Contains(logs.String(), "invalid trace header") {
			t.Errorf("traceparent %q: no log line", tp)
		}
	}
}

func TestOversizedBaggageIsIgnoredAndDropped(t *testing.T) {
	tr, _, _ := recorderTracing(t, "tracecontext", "baggage")
	big := "k=" + strings.Repeat("v", 9000)
	in := http.Header{"Baggage": {big}}
	ctx, span := tr.Start(context.Background(), in, trace.SpanKindClient, "GET x")
	defer span.End()
	if baggage.FromContext(ctx).Len() != 0 {
		t.Fatal("oversized baggage accepted")
	}
	out := http.Header{"Baggage": {big}}
	tr.Inject(ctx, out)
	if out.Get("Baggage") != "" {
		t.Fatal("an ignored baggage header was still forwarded")
	}
}

func TestInvalidHeaderLogIsRateLimited(t *testing.T) {
	tr, _, logs := recorderTracing(t, "tracecontext")
	now := time.Unix(1700000000, 0)
	tr.now = func() time.Time { return now }
	bad := http.Header{"Traceparent": {"garbage"}}
	for range 5 {
		_, s := tr.Start(context.Background(), bad, trace.SpanKindClient, "x")
		s.End()
	}
	now = now.Add(time.Minute)
	_, s := tr.Start(context.Background(), bad, trace.SpanKindClient, "x")
	s.End()
	if n := strings.Count(logs.String(), "invalid trace header"); n != 2 {
		t.Fatalf("%d log lines for 6 bad headers over a minute, want 2", n)
	}
}

func TestPropagatorsInject(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
	}{
		{"tracecontext", []string{"Traceparent"}},
		{"baggage", []string{"Baggage"}},
		{"b3", []string{"B3"}},
		{"b3multi", []string{"X-B3-Traceid", "X-B3-Spanid", "X-B3-Sampled"}},
	}
	for _, c := range cases {
		tr, _, _ := recorderTracing(t, c.name)
		in := http.Header{}
		ctx, span := tr.Start(context.Background(), in, trace.SpanKindClient, "x")
		if c.name == "baggage" {
			m, _ := baggage.NewMember("user", "bob")
			b, _ := baggage.New(m)
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		out := http.Header{}
		tr.Inject(ctx, out)
		span.End()
		for _, h := range c.headers {
			if out.Get(h) == "" {
				t.Errorf("%s: header %s not injected (%v)", c.name, h, out)
			}
		}
		tid := span.SpanContext().TraceID().String()
		if c.name == "b3" && !strings.HasPrefix(out.Get("B3"), tid+"-"+span.SpanContext().SpanID().String()) {
			t.Errorf("b3 = %q", out.Get("B3"))
		}
		if c.name == "b3multi" && out.Get("X-B3-Traceid") != tid {
			t.Errorf("b3multi trace id = %q", out.Get("X-B3-Traceid"))
		}
	}
}

func TestB3Extract(t *testing.T) {
	tr, rec, _ := recorderTracing(t, "b3multi")
	in := http.Header{"X-B3-Traceid": {knownTrace}, "X-B3-Spanid": {knownParent}, "X-B3-Sampled": {"1"}}
	_, span := tr.Start(context.Background(), in, trace.SpanKindServer, "x")
	span.End()
	if got := rec.Ended()[0]; got.SpanContext().TraceID().String() != knownTrace || got.Parent().SpanID().String() != knownParent {
		t.Fatalf("b3 context not extracted: %v", got.Parent())
	}
}

func TestSetup(t *testing.T) {
	svc := config.Service{Name: "web", ID: "web-1"}
	if tr, err := Setup(context.Background(), config.Tracing{Exporter: "none"}, svc, Options{}); tr != nil || err != nil {
		t.Fatalf("none: %v %v", tr, err)
	}
	var nilTracing *Tracing
	ctx, span := nilTracing.Start(context.Background(), http.Header{}, trace.SpanKindClient, "x")
	nilTracing.Inject(ctx, http.Header{})
	if span.IsRecording() || nilTracing.Shutdown(ctx) != nil {
		t.Fatal("a nil Tracing must be a no-op")
	}

	var out bytes.Buffer
	cfg := config.Tracing{Exporter: "stdout", SampleRatio: 1, Propagators: []string{"tracecontext"}}
	tr, err := Setup(context.Background(), cfg, svc, Options{Version: "v9", Stdout: &out,
		Getenv: func(k string) string {
			if k == "OTEL_SERVICE_NAME" {
				return "web-from-env"
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, span = tr.Start(context.Background(), http.Header{}, trace.SpanKindClient, "GET payments")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"GET payments"`, `"web-from-env"`, `"web-1"`, `"v9"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout export lacks %s", want)
		}
	}
	if _, err := Propagator([]string{"jaeger"}); err == nil {
		t.Fatal("unknown propagator accepted")
	}
}

func TestSampleRatioZeroRecordsNothingButPropagates(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	prop, _ := Propagator([]string{"tracecontext"})
	tr := New(tp, prop, nil)
	ctx, span := tr.Start(context.Background(), http.Header{}, trace.SpanKindClient, "x")
	out := http.Header{}
	tr.Inject(ctx, out)
	span.End()
	if len(rec.Ended()) != 0 || !strings.HasSuffix(out.Get("Traceparent"), "-00") {
		t.Fatalf("ratio 0: %d spans, traceparent %q", len(rec.Ended()), out.Get("Traceparent"))
	}
	// An incoming sampled flag is honoured.
	in := http.Header{"Traceparent": {"00-" + knownTrace + "-" + knownParent + "-01"}}
	_, span = tr.Start(context.Background(), in, trace.SpanKindClient, "x")
	span.End()
	if len(rec.Ended()) != 1 {
		t.Fatal("a sampled caller's trace was not recorded at ratio 0")
	}
}
