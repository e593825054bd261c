package tracing

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A span Start drops itself is the one the SDK would have made: the
// caller's trace id (or a new one), a new span id, the caller's flags
// without sampled, the caller's tracestate, not remote, not recording,
// and the provider's.
func TestSampledOutSpanIsTheSDKs(t *testing.T) {
	prop, _ := Propagator([]string{"tracecontext"})
	fast := NewRatio(0, prop, nil)
	sdk := New(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)))), prop, nil)
	for _, c := range []struct{ name, traceparent, tracestate string }{
		{"no caller", "", ""},
		{"caller unsampled", "00-" + knownTrace + "-" + knownParent + "-00", ""},
		{"caller unsampled, random flag, tracestate", "00-" + knownTrace + "-" + knownParent + "-02", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
		{"caller sampled", "00-" + knownTrace + "-" + knownParent + "-01", "k=v"},
	} {
		in := http.Header{}
		if c.traceparent != "" {
			in.Set("Traceparent", c.traceparent)
		}
		if c.tracestate != "" {
			in.Set("Tracestate", c.tracestate)
		}
		_, got := fast.Start(context.Background(), in, trace.SpanKindServer, "GET x")
		_, want := sdk.Start(context.Background(), in, trace.SpanKindServer, "GET x")
		g, w := got.SpanContext(), want.SpanContext()
		if got.IsRecording() != want.IsRecording() || g.TraceFlags() != w.TraceFlags() ||
			g.TraceState().String() != w.TraceState().String() || g.IsRemote() || !g.SpanID().IsValid() ||
			!g.TraceID().IsValid() || (c.traceparent != "") != (g.TraceID() == w.TraceID()) {
			t.Errorf("%s: span %v recording %v, the SDK's %v recording %v", c.name, g, got.IsRecording(), w, want.IsRecording())
		}
		if !got.IsRecording() && got.TracerProvider() != fast.provider {
			t.Errorf("%s: tracer provider %v", c.name, got.TracerProvider())
		}
		got.End()
		want.End()
	}
}

// The decision Start makes is the SDK's sampler's on the trace id the
// span gets, and it is made once: a recorded new trace keeps the id the
// decision was made on.
func TestRatioDecidesOnTheSpansTraceID(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prop, _ := Propagator([]string{"tracecontext"})
	tr := NewRatio(0.5, prop, nil, sdktrace.WithSpanProcessor(rec))
	ratio := sdktrace.TraceIDRatioBased(0.5)
	var recorded, dropped int
	for range 400 {
		_, span := tr.Start(context.Background(), http.Header{}, trace.SpanKindClient, "x")
		res := ratio.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: span.SpanContext().TraceID()})
		if span.IsRecording() != (res.Decision == sdktrace.RecordAndSample) || span.SpanContext().IsSampled() != span.IsRecording() {
			t.Fatalf("trace %s: recording %v, the ratio sampler says %v", span.SpanContext().TraceID(), span.IsRecording(), res.Decision)
		}
		if span.IsRecording() {
			recorded++
		} else {
			dropped++
		}
		span.End()
	}
	// Half of 400 is recorded, give or take 6 standard deviations (10):
	// were the decision made twice (here, then by the SDK on other ids),
	// a quarter would be.
	if recorded < 140 || recorded > 260 || len(rec.Ended()) != recorded {
		t.Fatalf("%d recorded, %d dropped, %d ended; want about 200 recorded", recorded, dropped, len(rec.Ended()))
	}
}

// The context of a dropped span is the caller's with that span: its
// values and its cancellation are the caller's.
func TestUnsampledContext(t *testing.T) {
	type k struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), k{}, "v"))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: newTraceID(), SpanID: newSpanID()})
	ctx, span := withUnsampled(parent, sc, nil)
	if trace.SpanFromContext(ctx) != span || !trace.SpanContextFromContext(ctx).Equal(sc) || ctx.Value(k{}) != "v" {
		t.Fatalf("span %v, value %v", trace.SpanFromContext(ctx), ctx.Value(k{}))
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done() // a deadline: the test's
	if ctx.Err() != context.Canceled {
		t.Fatalf("err %v", ctx.Err())
	}
}

// What a sampled-out request costs in package tracing: two allocations to
// start (the span and its context), two more to read a caller's trace
// (its span context and a context), and one to inject (the traceparent
// value and its slice); the kind option none.
func TestSampledOutAllocs(t *testing.T) {
	prop, _ := Propagator([]string{"tracecontext", "baggage"})
	tr := NewRatio(0, prop, nil)
	for _, c := range []struct {
		name  string
		in    http.Header
		start float64
	}{
		{"new trace", http.Header{"Accept": {"*/*"}}, 2},
		{"caller's trace", http.Header{"Traceparent": {"00-" + knownTrace + "-" + knownParent + "-00"}}, 4},
	} {
		out := http.Header{"Accept": {"*/*"}}
		var ctx context.Context
		start := testing.AllocsPerRun(100, func() {
			ctx, _ = tr.Start(context.Background(), c.in, trace.SpanKindClient, "GET x")
		})
		inject := testing.AllocsPerRun(100, func() { tr.Inject(ctx, out) })
		if start != c.start || inject != 1 {
			t.Errorf("%s: allocations: Start %v, Inject %v; want %v and 1", c.name, start, inject, c.start)
		}
		if out.Get("Traceparent") == "" {
			t.Errorf("%s: no traceparent injected", c.name)
		}
	}
}

// The traceparent the sidecar writes is byte for byte the SDK's.
func TestTraceContextInjectIsTheSDKs(t *testing.T) {
	ts, _ := trace.ParseTraceState("congo=t61rcWkgMzE")
	tid, sid := newTraceID(), newSpanID()
	for _, sc := range []trace.SpanContext{
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: 0xff, TraceState: ts}),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid}), // invalid: nothing
	} {
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		got, want := http.Header{}, http.Header{}
		traceContext{}.Inject(ctx, headerCarrier(got))
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(want))
		if len(got) != len(want) || got.Get("Traceparent") != want.Get("Traceparent") || got.Get("Tracestate") != want.Get("Tracestate") {
			t.Errorf("%v: injected %v, the SDK %v", sc, got, want)
		}
	}
}

// Every propagator's key is mapped to its canonical form.
func TestCanonicalKey(t *testing.T) {
	prop, _ := Propagator([]string{"tracecontext", "baggage", "b3", "b3multi"})
	for _, k := range append(prop.Fields(), "x-b3-flags", "x-other") {
		if got, want := canonicalKey(k), http.CanonicalHeaderKey(k); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
}
