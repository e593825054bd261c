// Package proxy is the request path of an HTTP upstream listener: pick an
// endpoint, forward the request through a Transport, stream the response
// back, and finish the accounting once the body is done. Local replies
// (SPEC.md) are written here too.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// Handler serves the requests of one upstream listener. It is an
// http.Handler: ServeHTTP runs concurrently, one call per request.
type Handler struct {
	up        *upstream.Upstream
	transport Transport
	log       *slog.Logger
	now       func() time.Time
	timeout   time.Duration
}

// NewHandler returns the handler for up, forwarding through t.
func NewHandler(up *upstream.Upstream, t Transport, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{up: up, transport: t, log: log, now: time.Now, timeout: up.Config().Timeout}
}

// statusClientClosed records an attempt the client abandoned (nginx's 499):
// neither a success nor the endpoint's failure.
const statusClientClosed = 499

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	stats := h.up.Stats()
	stats.BeginRequest()
	defer func() { stats.EndRequest(h.now().Sub(start)) }()

	lease, ok := h.up.Pick(clientKey(r))
	if !ok {
		h.localReply(w, localreply.NoHealthyUpstream, "upstream "+h.up.Name()+" has no endpoint to send to")
		return
	}

	ctx := r.Context()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	resp, err := h.transport.RoundTrip(outbound(ctx, r, lease.Endpoint().Address))
	if err != nil {
		ae := classify(r.Context(), ctx, err)
		if ae.clientGone {
			lease.Done(statusClientClosed, false)
			return
		}
		lease.Done(ae.reason.Status(), true)
		h.localReply(w, ae.reason, err.Error())
		return
	}
	defer resp.Body.Close()

	dst := w.Header()
	copyEndToEnd(dst, resp.Header, false)
	announceTrailers(dst, resp.Trailer)
	w.WriteHeader(resp.StatusCode)
	readErr, writeErr := streamBody(w, resp.Body, resp.ContentLength == -1)
	switch {
	case readErr != nil:
		// The head is out; the only honest signal left is to break the
		// client connection so it cannot take a truncated body as whole.
		ae := classify(r.Context(), ctx, readErr)
		lease.Done(resp.StatusCode, !ae.clientGone)
		if !ae.clientGone && h.log.Enabled(ctx, slog.LevelDebug) {
			h.log.Debug("upstream response body failed", "upstream", h.up.Name(),
				"endpoint", lease.Endpoint().Address, "reason", ae.reason.String(), "error", readErr)
		}
		panic(http.ErrAbortHandler)
	case writeErr != nil:
		lease.Done(statusClientClosed, false)
		return
	}
	copyTrailers(dst, resp.Trailer)
	lease.Done(resp.StatusCode, resp.StatusCode >= 500)
}

// localReply answers for the sidecar and counts it.
func (h *Handler) localReply(w http.ResponseWriter, reason localreply.Reason, detail string) {
	h.up.Stats().LocalReply(reason)
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.log.Debug("local reply", "upstream", h.up.Name(), "reason", reason.String(), "detail", detail)
	}
	localreply.Write(w, reason, reason.Status(), detail)
}

// outbound builds the request to the endpoint. The inbound request is read,
// never modified (STYLE.md 10): the URL is copied, the header map is new
// (its value slices shared), and Host is passed through unchanged.
func outbound(ctx context.Context, in *http.Request, addr string) *http.Request {
	u := new(url.URL)
	*u = *in.URL
	u.Scheme = "http"
	u.Host = addr
	u.User = nil

	hdr := make(http.Header, len(in.Header)+1)
	copyEndToEnd(hdr, in.Header, true)
	hdr["X-Forwarded-For"] = appendForwardedFor(in.Header["X-Forwarded-For"], clientIP(in.RemoteAddr))

	body := in.Body
	if in.ContentLength == 0 {
		body = http.NoBody
	}
	out := &http.Request{
		Method:        in.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          body,
		ContentLength: in.ContentLength,
		Host:          in.Host,
	}
	return out.WithContext(ctx)
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
