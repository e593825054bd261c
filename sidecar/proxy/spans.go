package proxy

import (
	"context"
	"net"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// The span notes of the request path. Each checks IsRecording first, so a
// request that is not traced (tracing off, or sampled out) pays nothing.

// noteAttempt records which endpoint an attempt went to (the last one
// wins) and, when its outcome ejected the endpoint, the ejection.
func noteAttempt(span trace.Span, ep *balancer.Endpoint, ejected bool) {
	host, port, _ := net.SplitHostPort(ep.Address)
	p, _ := strconv.Atoi(port)
	span.SetAttributes(tracing.AttrServerAddr.String(host), tracing.AttrServerPort.Int(p))
	if ejected {
		span.AddEvent(tracing.EventEjection, trace.WithAttributes(
			tracing.AttrEndpoint.String(ep.Address),
			tracing.AttrReason.String(ep.Outlier.Reason().String())))
	}
}

// noteRetry records retry number n (1 for the first retry) and why.
func noteRetry(ctx context.Context, n int, a *attempt) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	why := a.reason.String()
	if a.resp != nil {
		why = strconv.Itoa(a.status)
	}
	span.SetAttributes(tracing.AttrRetries.Int(n))
	span.AddEvent(tracing.EventRetry, trace.WithAttributes(
		tracing.AttrAttempt.Int(n+1),
		tracing.AttrEndpoint.String(a.lease.Endpoint().Address),
		tracing.AttrReason.String(why)))
}

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
