package tracing

import (
	"net/http"
	"net/textproto"
)

// headerCarrier is propagation.HeaderCarrier without its per-call cost:
// the propagators ask for their headers in lower case ("traceparent"),
// and http.Header canonicalises such a key into a new string on every
// Get, Values and Set — on every request, whether or not it is sampled.
// The keys the sidecar's propagators use are mapped to their canonical
// forms by a switch instead; any other key takes http.Header's way.
type headerCarrier http.Header

// canonicalKey is textproto.CanonicalMIMEHeaderKey(key) without an
// allocation for the propagators' own keys (Propagator's).
func canonicalKey(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	case "b3":
		return "B3"
	case "x-b3-traceid":
		return "X-B3-Traceid"
	case "x-b3-spanid":
		return "X-B3-Spanid"
	case "x-b3-sampled":
		return "X-B3-Sampled"
	case "x-b3-flags":
		return "X-B3-Flags"
	case "x-b3-parentspanid":
		return "X-B3-Parentspanid"
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}

// Get returns the first value of key.
func (c headerCarrier) Get(key string) string {
	if v := c[canonicalKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of key (the baggage propagator joins them).
func (c headerCarrier) Values(key string) []string { return c[canonicalKey(key)] }

// Set replaces key's values with value.
func (c headerCarrier) Set(key, value string) { c[canonicalKey(key)] = []string{value} }

// Keys lists the header names.
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
