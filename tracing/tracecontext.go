package tracing

import (
	"context"
	"encoding/hex"
	"strings"
	"unsafe"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// traceContext is the W3C Trace Context propagator: the SDK's, with an
// Extract and an Inject that allocate less. Both run for every request,
// sampled or not — a sampled-out request still continues its caller's
// trace and hands it on, with flags 00 (docs/contract.md, "Tracing") — so
// they are most of what tracing costs a request that is not recorded.
// Extract files the caller's span context with one allocation where the
// SDK's takes two, and reads the header by the SDK's rules (FuzzTraceparent
// holds it to the SDK's); Inject writes into the sidecar's own carrier
// with one where the SDK's takes three (a strings.Builder, the canonical
// key, the value slice), byte for byte the SDK's header
// (TestTraceContextInjectIsTheSDKs).
type traceContext struct{ propagation.TraceContext }

// Extract returns ctx with the caller's span context (remote, not
// recording) when traceparent is valid, and ctx itself otherwise. A
// tracestate that does not parse is dropped, the traceparent kept (W3C).
func (traceContext) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	scc, ok := parseTraceparent(carrier.Get("traceparent"))
	if !ok {
		return ctx
	}
	scc.TraceState, _ = trace.ParseTraceState(carrier.Get("tracestate"))
	sc := trace.NewSpanContext(scc)
	if !sc.IsValid() { // an all-zero id
		return ctx
	}
	ctx, _ = withUnsampled(ctx, sc, noopProvider)
	return ctx
}

// noopProvider is the provider of a caller's span, as package trace's own
// remote span has: made once, as the interface holds a copy of it.
var noopProvider trace.TracerProvider = noop.NewTracerProvider()

// parseTraceparent reads a traceparent header: a 2-digit version other
// than ff, a 32-digit trace id, a 16-digit span id and 2-digit flags, in
// lower-case hex, separated by "-"; version 00 has nothing after the
// flags and only the flags it defines. Other versions may carry more
// after a "-". The flags kept are sampled and random.
func parseTraceparent(h string) (scc trace.SpanContextConfig, ok bool) {
	var version, flags [1]byte
	if h == "" || !hexField(version[:], &h) || version[0] == 0xff ||
		!hexField(scc.TraceID[:], &h) || !hexField(scc.SpanID[:], &h) || !hexField(flags[:], &h) ||
		version[0] == 0 && (h != "" || flags[0] > 3) {
		return trace.SpanContextConfig{}, false
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	scc.Remote = true
	return scc, true
}

// hexField decodes the field before the next "-" of *h (all of it if
// there is none) into dst, and leaves what follows the "-" in *h. It
// must be len(dst)*2 lower-case hex digits.
func hexField(dst []byte, h *string) bool {
	field, rest, _ := strings.Cut(*h, "-")
	*h = rest
	if len(field) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := unhex(field[2*i]), unhex(field[2*i+1])
		if hi|lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

var _ propagation.TextMapPropagator = traceContext{}

// Inject sets traceparent (and tracestate, when ctx's span has one) from
// ctx's span.
func (tc traceContext) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	h, ok := carrier.(headerCarrier)
	if !ok {
		tc.TraceContext.Inject(ctx, carrier)
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	if ts := sc.TraceState().String(); ts != "" {
		h["Tracestate"] = []string{ts}
	}
	h["Traceparent"] = traceparent(sc)
}

// traceparentValue is a traceparent header value together with the
// one-element slice an http.Header holds it in, so that both are a single
// allocation.
type traceparentValue struct {
	vals [1]string
	text [len("00-") + 32 + len("-") + 16 + len("-") + 2]byte
}

// traceparent is version 00 of the header for sc: the trace id, the span
// id and the flags the specification defines (sampled, random).
func traceparent(sc trace.SpanContext) []string {
	v := new(traceparentValue)
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	t := &v.text
	copy(t[0:3], "00-")
	hex.Encode(t[3:35], tid[:])
	t[35] = '-'
	hex.Encode(t[36:52], sid[:])
	t[52] = '-'
	hex.Encode(t[53:55], flags[:])
	// The string shares text's memory: text is written only above, before
	// the string exists, and lives as long as the string (the same object).
	v.vals[0] = unsafe.String(&t[0], len(t))
	return v.vals[:]
}
