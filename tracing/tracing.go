// Package tracing sets up OpenTelemetry for the sidecar (docs/contract.md,
// "Tracing"): the tracer provider and exporter from the `tracing` config and
// the standard OTEL_* variables, the propagators, and the two calls the
// request path makes — Start (extract the caller's context, start the span)
// and Inject (hand the sidecar's span to the upstream).
//
// A nil *Tracing is valid and means tracing is off (`exporter: none`): every
// method is then a no-op and trace headers pass through untouched, so the
// request path pays nothing.
package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"net/textproto"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is the sidecar's tracer and propagator. Its methods are called
// from request goroutines concurrently.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	// fields are the headers the propagators read and write, canonical:
	// they are dropped from the copied request headers before Inject, so an
	// invalid incoming header never reaches the upstream.
	fields []string
	// kinds are the start options of each span kind, made once: built per
	// call, the variadic slice and the option would be allocated for
	// every request.
	kinds [trace.SpanKindConsumer + 1][]trace.SpanStartOption
	// sampler is the provider's sampler when NewRatio made both, so that
	// Start can decide before the SDK is asked (unsampled.go); nil: the
	// SDK decides.
	sampler sdktrace.Sampler
	log     *slog.Logger
	now     func() time.Time
	// lastInvalidLog rate-limits the "invalid trace header" line to one a
	// minute: the headers are attacker-controlled.
	lastInvalidLog atomic.Int64
}

// invalidLogEvery is the rate limit of the invalid-header log line.
const invalidLogEvery = time.Minute

// New wraps a tracer provider and propagator; Setup builds them from the
// config, tests pass an in-memory recorder.
func New(provider *sdktrace.TracerProvider, prop propagation.TextMapPropagator, log *slog.Logger) *Tracing {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tracing{
		provider: provider,
		tracer:   provider.Tracer("github.com/outrigger-mesh/outrigger"),
		prop:     prop,
		log:      log,
		now:      time.Now,
	}
	for k := range t.kinds {
		t.kinds[k] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(k))}
	}
	for _, f := range prop.Fields() {
		t.fields = append(t.fields, textproto.CanonicalMIMEHeaderKey(f))
	}
	return t
}

// NewRatio is New with a provider built from opts and the sidecar's
// sampler, ParentBased(TraceIDRatioBased(ratio)), which Start then applies
// itself: a request that is sampled out costs one allocation there
// instead of the SDK's span. opts must not set a sampler or an ID
// generator (they would be overridden).
func NewRatio(ratio float64, prop propagation.TextMapPropagator, log *slog.Logger, opts ...sdktrace.TracerProviderOption) *Tracing {
	sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	opts = append(opts[:len(opts):len(opts)], sdktrace.WithSampler(sampler), sdktrace.WithIDGenerator(headIDs{}))
	t := New(sdktrace.NewTracerProvider(opts...), prop, log)
	if ratio < 1 { // at 1 every span records: nothing to save
		t.sampler = sampler
	}
	return t
}

// Start extracts the caller's trace context and baggage from hdr (an
// invalid header is ignored and a fresh trace starts) and starts a span of
// kind named name. The span must be ended by the caller.
//
// Start takes no attributes: the caller sets them on the span when
// span.IsRecording(), so that a request that is sampled out does not
// build them (passed here, they would be allocated and copied for every
// request). The sampler therefore sees none; the sidecar's,
// ParentBased(TraceIDRatioBased), does not look at them.
func (t *Tracing) Start(ctx context.Context, hdr http.Header, kind trace.SpanKind, name string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = t.prop.Extract(ctx, headerCarrier(hdr))
	t.noteInvalid(ctx, hdr)
	if uint(kind) < uint(len(t.kinds)) {
		if t.sampler != nil {
			return t.startHead(ctx, kind, name)
		}
		return t.tracer.Start(ctx, name, t.kinds[kind]...)
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(kind))
}

// Inject replaces the trace headers in hdr (a copy of the caller's) with
// ctx's span and baggage, so the upstream sees the sidecar's span as its
// parent, in the same trace, with the caller's baggage.
func (t *Tracing) Inject(ctx context.Context, hdr http.Header) {
	if t == nil {
		return
	}
	for _, f := range t.fields {
		delete(hdr, f)
	}
	t.prop.Inject(ctx, headerCarrier(hdr))
}

// noteInvalid logs, at most once a minute, that a trace header was present
// but not usable.
func (t *Tracing) noteInvalid(ctx context.Context, hdr http.Header) {
	badParent := len(hdr["Traceparent"]) > 0 && !trace.SpanContextFromContext(ctx).IsValid()
	badBaggage := len(hdr["Baggage"]) > 0 && baggage.FromContext(ctx).Len() == 0
	if !badParent && !badBaggage {
		return
	}
	now := t.now().UnixNano()
	last := t.lastInvalidLog.Load()
	if now-last < int64(invalidLogEvery) || !t.lastInvalidLog.CompareAndSwap(last, now) {
		return
	}
	t.log.Warn("ignoring an invalid trace header; starting a new trace (logged at most once a minute)",
		"traceparent_invalid", badParent, "baggage_invalid", badBaggage)
}

// Shutdown flushes buffered spans within ctx and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
