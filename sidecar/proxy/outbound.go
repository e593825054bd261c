package proxy

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// outboundReq holds an outbound request and what it is made of, reused:
// for the tries of one request, and across requests from a pool when the
// transport is a contextTransport (it keeps nothing of a request once the
// answer's body is closed). A request to an endpoint then allocates no
// header map, URL or request of its own.
type outboundReq struct {
	req http.Request
	url url.URL
	hdr http.Header
	xff [1]string
}

var outboundReqs = sync.Pool{New: func() any { return &outboundReq{hdr: make(http.Header, 16)} }}

// contextTransport is a Transport that takes the request's context as an
// argument — the outbound request then needs no WithContext copy — and
// that keeps nothing of a request after its answer's body is closed, so
// the request's storage (outboundReq) can be reused. h1.Client is one.
type contextTransport interface {
	RoundTripContext(ctx context.Context, req *http.Request) (*http.Response, error)
}

// roundTrip sends out under ctx through t.
func roundTrip(t Transport, ctx context.Context, out *http.Request) (*http.Response, error) {
	if ct, ok := t.(contextTransport); ok {
		return ct.RoundTripContext(ctx, out)
	}
	return t.RoundTrip(out.WithContext(ctx))
}

// outbound builds the request to the endpoint in o (nil: a new one). The
// inbound request is read, never modified: the URL is copied, the header
// map is the outbound request's own (its value slices shared), and Host is
// passed through unchanged. Hop-by-hop fields are dropped before the
// sidecar adds its own X-Forwarded-For, which extends what survived — so
// a client's `Connection: X-Forwarded-For` cannot smuggle its own value
// past the hop. With tracing on, the caller's trace headers are replaced by
// the sidecar's span (tr.Inject). Trailer is the inbound request's map,
// which its body fills at its end. The request carries no context: send
// it with roundTrip.
func outbound(ctx context.Context, tr *tracing.Tracing, o *outboundReq, in *http.Request, addr string, body io.ReadCloser) *http.Request {
	if o == nil {
		o = &outboundReq{hdr: make(http.Header, len(in.Header)+1)}
	} else {
		clear(o.hdr)
	}
	u := &o.url
	*u = *in.URL
	u.Scheme = "http"
	u.Host = addr
	u.User = nil

	hdr := o.hdr
	copyEndToEnd(hdr, in.Header, true)
	hdr["X-Forwarded-For"] = appendForwardedFor(hdr["X-Forwarded-For"], clientIP(in.RemoteAddr), &o.xff)
	tr.Inject(ctx, hdr)

	out := &o.req
	*out = http.Request{
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
	if body == http.NoBody && !h1.Idempotent(in.Method) {
		// net/http's HTTP/2 client sends a request with NoBody again on its
		// own after certain stream resets; a body it cannot rewind makes it
		// refuse. (h1.Client sends an empty one as no body.)
		out.Body = noBody{}
	}
	if len(in.Trailer) > 0 && body != nil && body != http.NoBody {
		out.Trailer, out.Body = forwardTrailers(in.Trailer, out.Body)
	}
	return out
}

// noBody is an empty body that is not http.NoBody.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noBody) Close() error             { return nil }

// forwardTrailers returns the trailer map of an outbound request — the
// declared names that may travel in a trailer (h1.TrailerAllowed) — and a
// body that fills in their values from the inbound request's trailers
// when it ends, which is when the inbound body has read them. Undeclared
// trailers are dropped: the names are announced before the body.
func forwardTrailers(in http.Header, body io.ReadCloser) (http.Header, io.ReadCloser) {
	out := make(http.Header, len(in))
	for k := range in {
		if h1.TrailerAllowed(k) {
			out[k] = nil
		}
	}
	if len(out) == 0 {
		return nil, body
	}
	return out, &trailerFill{ReadCloser: body, in: in, out: out}
}

type trailerFill struct {
	io.ReadCloser
	in, out http.Header
}

func (t *trailerFill) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err == io.EOF {
		for k := range t.out {
			t.out[k] = t.in[k]
		}
	}
	return n, err
}

// Ready passes on h1.ReadyReader (see bodyReader.Ready).
func (t *trailerFill) Ready() bool { r, ok := t.ReadCloser.(h1.ReadyReader); return ok && r.Ready() }
