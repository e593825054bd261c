package proxy

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// The span notes of the request path. Each checks IsRecording first, so a
// request that is not traced (tracing off, or sampled out) pays nothing.
// The attempt's own notes (the endpoint, retries, ejections) are made by
// upstream.Attempt.

// noteLocalReply records a reply the sidecar gave itself.
func noteLocalReply(ctx context.Context, reason localreply.Reason, status int) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(tracing.EventLocalReply, trace.WithAttributes(tracing.AttrReason.String(reason.String())))
	span.SetAttributes(tracing.AttrStatus.Int(status), tracing.AttrErrorType.String(reason.String()))
	span.SetStatus(codes.Error, reason.String())
}

// noteResponse records the upstream's answer; a 5xx or a body cut short
// marks the span as failed.
func noteResponse(ctx context.Context, status int, broken bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(tracing.AttrStatus.Int(status))
	switch {
	case broken:
		span.SetAttributes(tracing.AttrErrorType.String(localreply.UpstreamReset.String()))
		span.SetStatus(codes.Error, "upstream response body failed")
	case status >= 500:
		span.SetAttributes(tracing.AttrErrorType.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	}
}
