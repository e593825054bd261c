package proxy

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// respond streams the chosen attempt's response to the client and
// finishes its accounting when the body is done (STYLE.md 11). With
// exhausted set, a retry was due but the budget refused it: the response
// is tagged retry_budget_exhausted so the caller can tell.
func (h *Handler) respond(ctx context.Context, w http.ResponseWriter, r *http.Request, a *attempt, exhausted bool) {
	resp := a.resp
	defer resp.Body.Close()
	dst := w.Header()
	copyEndToEnd(dst, resp.Header, false)
	announceTrailers(dst, resp.Trailer)
	if exhausted {
		h.up.Stats().LocalReply(localreply.RetryBudgetExhausted)
		dst.Set(localreply.Header, localreply.RetryBudgetExhausted.String())
	}
	w.WriteHeader(resp.StatusCode)
	if f, ok := w.(http.Flusher); ok && resp.ContentLength == -1 {
		f.Flush() // a stream's head goes out now: its body may wait on the client's (full duplex, gRPC)
	}
	readErr, writeErr := streamBody(w, resp.Body, resp.ContentLength == -1)
	clientGone := r.Context().Err() != nil
	if readErr == nil && writeErr == nil {
		copyTrailers(dst, resp.Trailer)
	}
	status := resp.StatusCode
	if writeErr != nil || (readErr != nil && clientGone) {
		status = statusClientClosed
	}
	a.finish(status, grpcOutcome(resp, outcomeOf(resp.StatusCode, readErr, writeErr, clientGone)))
	noteResponse(ctx, resp.StatusCode, readErr != nil && !clientGone)
	if readErr != nil && !clientGone {
		// The head is out; the only honest signal left is to break the
		// client connection so it cannot take a truncated body as whole.
		if h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.Debug("upstream response body failed", "upstream", h.up.Name(),
				"endpoint", a.lease.Endpoint().Address, "error", readErr)
		}
		panic(http.ErrAbortHandler)
	}
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
