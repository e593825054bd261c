package proxy

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// rewinder is implemented by a ResponseWriter that can take back a
// response none of which has reached the client yet (h1's).
type rewinder interface{ Rewind() bool }

// respond streams the attempt's answer to the client and ends the attempt
// when the body is done (the endpoint's outcome is known only then). With
// exhausted set, a retry was due but the budget refused it: the answer is
// tagged retry_budget_exhausted so the caller can tell.
//
// When the endpoint fails mid-body, the client must not take a truncated
// answer as whole: if nothing of it has reached the client yet, it is
// taken back and replaced by the local reply (502 upstream_reset or
// upstream_protocol_error, 504 upstream_timeout); else the connection is
// broken off. When the client fails (it stopped reading past its
// deadline, or left), the attempt is the client's (499) and the
// connection is broken off too.
func (h *Handler) respond(ctx context.Context, cs *clientSide, w http.ResponseWriter, r *http.Request, a *upstream.Attempt, resp *http.Response, exhausted bool) {
	defer resp.Body.Close()
	dst := w.Header()
	copyEndToEnd(dst, resp.Header, false)
	announceTrailers(dst, resp.Trailer)
	if exhausted {
		dst.Set(localreply.Header, localreply.RetryBudgetExhausted.String())
		cs.reply = localreply.RetryBudgetExhausted.String()
	}
	cs.beforeWrite()
	cs.status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	readErr, writeErr := streamBody(cs, w, resp.Body, resp.ContentLength == -1)
	if readErr == nil && writeErr == nil {
		copyTrailers(dst, resp.Trailer)
	}
	var o upstream.Outcome
	switch {
	case writeErr != nil:
		o = upstream.Failed(upstream.ClientGone)
	case readErr != nil:
		o = classify(r.Context(), readErr, false)
	default:
		o = answerOutcome(resp)
	}
	a.End(o)
	if exhausted && o.Kind != upstream.ClientGone {
		h.up.Stats().LocalReply(localreply.RetryBudgetExhausted)
	}
	switch {
	case writeErr != nil, o.Kind == upstream.ClientGone:
		noteResponse(ctx, resp.StatusCode, false)
		abort()
	case readErr != nil:
		if h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.Debug("upstream answer failed mid-body", "upstream", h.up.Name(),
				"endpoint", a.Endpoint().Address, "error", readErr)
		}
		if rw, ok := w.(rewinder); ok && rw.Rewind() {
			cs.beforeWrite() // the last write's deadline may have passed while the upstream stalled
			reason := o.Kind.Reason()
			h.localReply(ctx, cs, w, reason, reason.Status(), readErr.Error())
			return
		}
		noteResponse(ctx, resp.StatusCode, true)
		abort()
	}
	noteResponse(ctx, resp.StatusCode, false)
}

// answerOutcome is what a complete answer means for the endpoint: its
// status, refined by gRPC's status for a gRPC answer.
func answerOutcome(resp *http.Response) upstream.Outcome {
	if grpcUnwell(resp) {
		return upstream.Unwell(resp.StatusCode)
	}
	return upstream.Answer(resp.StatusCode)
}

// announceTrailers declares the upstream's trailers so they can be sent
// after a chunked body.
func announceTrailers(dst http.Header, trailer http.Header) {
	if len(trailer) == 0 {
		return
	}
	keys := make([]string, 0, len(trailer))
	for k := range trailer {
		keys = append(keys, k)
	}
	dst["Trailer"] = keys
}

// copyTrailers sends the trailer values the upstream gave after its body.
func copyTrailers(dst http.Header, trailer http.Header) {
	for k, vv := range trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}
