package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the connection-scoped headers of RFC 9110 §7.6.1 (plus the
// legacy Proxy-Connection and Keep-Alive): they describe one hop and are
// never forwarded.
var hopByHop = [...]string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if h == name {
			return true
		}
	}
	return false
}

// connectionListed reports whether the Connection header values name key
// (already canonical). RFC 9110 §7.6.1: a header named in Connection is
// hop-by-hop too.
func connectionListed(conn []string, key string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = textproto.TrimString(tok)
			if tok != "" && len(tok) == len(key) && textproto.CanonicalMIMEHeaderKey(tok) == key {
				return true
			}
		}
	}
	return false
}

// copyEndToEnd copies the end-to-end fields of src into dst. The value
// slices are shared, not copied: neither side modifies them afterwards
// (the inbound request is never mutated). Hop-by-hop fields are
// dropped *before* the sidecar adds its own, so a client's
// `Connection: X-Forwarded-For` cannot strip what the sidecar adds
// (CVE-2021-33197).
func copyEndToEnd(dst, src http.Header, keepTETrailers bool) {
	conn := src["Connection"]
	for k, vv := range src {
		if isHopByHop(k) || (len(conn) > 0 && connectionListed(conn, k)) {
			continue
		}
		dst[k] = vv
	}
	// "TE: trailers" says the client accepts trailers; gRPC needs it to
	// reach the server, so it alone survives the hop (as in httputil).
	if keepTETrailers {
		for _, v := range src["Te"] {
			if strings.EqualFold(textproto.TrimString(v), "trailers") {
				dst["Te"] = []string{"trailers"}
				break
			}
		}
	}
}

// appendForwardedFor returns X-Forwarded-For with the client's IP added.
// The one-value slice is slot's when given (a reused outbound request's:
// no allocation for the common request without a prior value).
func appendForwardedFor(prior []string, clientIP string, slot *[1]string) []string {
	if clientIP == "" {
		return prior
	}
	v := clientIP
	if len(prior) > 0 {
		v = strings.Join(prior, ", ") + ", " + clientIP
	}
	if slot == nil {
		return []string{v}
	}
	slot[0] = v
	return slot[:]
}

// clientIP is the host part of a RemoteAddr ("ip:port", "[v6]:port").
func clientIP(remoteAddr string) string {
	i := strings.LastIndexByte(remoteAddr, ':')
	if i < 0 {
		return remoteAddr
	}
	return strings.Trim(remoteAddr[:i], "[]")
}

// clientKey is what ip_hash hashes: the first X-Forwarded-For address (the
// original client when the app is itself behind a proxy), else the peer IP.
// It slices existing strings and allocates nothing.
func clientKey(r *http.Request) string {
	if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
		first, _, _ := strings.Cut(xff[0], ",")
		if first = textproto.TrimString(first); first != "" {
			return first
		}
	}
	return clientIP(r.RemoteAddr)
}
