package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The sampled-out path. The SDK's tracer, asked for a span it will not
// record, still builds its options, draws the ids, asks the sampler and
// allocates a span and a context for it — for 99 requests in 100 at
// sample_ratio 0.01. Tracing made by NewRatio asks the sampler itself
// first, with ids it drew: a span that is dropped is then two small
// allocations here (the span and the context holding it), and one that
// records is the SDK's, made with the same ids (headIDs), so it records
// exactly when the SDK alone would have.

// unsampledSpan is a span that does not record, as the SDK's is: its
// span context, which Inject hands on, and nothing else. It is a span
// Start dropped (a new span id, the sampled flag cleared, the sampler's
// tracestate) or a caller's, as traceContext.Extract read it (remote).
type unsampledSpan struct {
	noop.Span
	sc trace.SpanContext
	tp trace.TracerProvider
}

func (s *unsampledSpan) SpanContext() trace.SpanContext       { return s.sc }
func (s *unsampledSpan) TracerProvider() trace.TracerProvider { return s.tp }

// withUnsampled returns ctx with a span that does not record, of span
// context sc. (The span and the context are two allocations; filing the
// span in a context of our own would make them one, but only by relying
// on package trace's unexported context key.)
func withUnsampled(ctx context.Context, sc trace.SpanContext, tp trace.TracerProvider) (context.Context, trace.Span) {
	s := &unsampledSpan{sc: sc, tp: tp}
	return trace.ContextWithSpan(ctx, s), s
}

// headIDs is the provider's IDGenerator: the ids the head-sampling
// decision was made on when the context carries them (idsCtx: a new trace
// that will record), random ones otherwise, drawn as the SDK's default
// generator draws them.
type headIDs struct{}

var _ sdktrace.IDGenerator = headIDs{}

func (headIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if v, ok := ctx.Value(headIDsKey{}).(*ids); ok {
		return v.trace, v.span
	}
	return newTraceID(), newSpanID()
}

func (headIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

type headIDsKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

// idsCtx is ctx carrying the ids for headIDs, in one allocation
// (context.WithValue would take two).
type idsCtx struct {
	context.Context
	ids ids
}

func (c *idsCtx) Value(key any) any {
	if key == (headIDsKey{}) {
		return &c.ids
	}
	return c.Context.Value(key)
}

func newTraceID() trace.TraceID {
	var t trace.TraceID
	for !t.IsValid() {
		binary.NativeEndian.PutUint64(t[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

func newSpanID() trace.SpanID {
	var s trace.SpanID
	for !s.IsValid() {
		binary.NativeEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// startHead starts a span with the head-sampling decision made here (see
// the top of this file). ctx holds the caller's extracted context.
func (t *Tracing) startHead(ctx context.Context, kind trace.SpanKind, name string) (context.Context, trace.Span) {
	psc := trace.SpanContextFromContext(ctx)
	if psc.IsValid() && !psc.IsRemote() {
		// A local parent (not the request path's case): the SDK's way.
		return t.tracer.Start(ctx, name, t.kinds[kind]...)
	}
	tid, root := psc.TraceID(), !psc.IsValid()
	if root {
		tid = newTraceID()
	}
	res := t.sampler.ShouldSample(sdktrace.SamplingParameters{
		ParentContext: ctx, TraceID: tid, Name: name, Kind: kind,
	})
	if res.Decision != sdktrace.Drop {
		if root {
			ctx = &idsCtx{Context: ctx, ids: ids{trace: tid, span: newSpanID()}}
		}
		return t.tracer.Start(ctx, name, t.kinds[kind]...)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     newSpanID(),
		TraceFlags: psc.TraceFlags() &^ trace.FlagsSampled,
		TraceState: res.Tracestate,
	})
	return withUnsampled(ctx, sc, t.provider)
}
