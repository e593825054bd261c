package proxy

import "net/http"

// spanMethods are the methods whose span names a handler makes once, the
// common ones first (a request's method is looked up in order).
var spanMethods = [...]string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
	http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// spanNames are a handler's span names, "METHOD upstream"
// (docs/contract.md, "Tracing"). The tracer takes the name before it
// knows whether the span will record, so a name concatenated per request
// would be an allocation on every request, sampled or not; for the
// registered methods it is made once instead. Read-only after
// newSpanNames, so ServeHTTP may read it concurrently.
type spanNames struct {
	upstream string
	names    [len(spanMethods)]string
}

func newSpanNames(upstream string) spanNames {
	n := spanNames{upstream: upstream}
	for i, m := range spanMethods {
		n.names[i] = m + " " + upstream
	}
	return n
}

// name is the span name of a request with method; an extension method's
// is made for the request.
func (n *spanNames) name(method string) string {
	for i, m := range spanMethods {
		if m == method {
			return n.names[i]
		}
	}
	return method + " " + n.upstream
}
