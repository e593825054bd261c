// Package h1 is a strict HTTP/1.1 server-side codec for the sidecar's
// upstream listeners. It replaces net/http's server because that server
// (a) silently accepts a request carrying both Content-Length and
// Transfer-Encoding (it drops Content-Length), the classic request smuggling
// shape, and (b) writes its own 400/431 replies, which we cannot tag with
// X-Outrigger-Error (docs/contract.md, "Local replies").
//
// Handlers are ordinary http.Handlers, so proxy code stays testable with
// httptest and the codec can be swapped.
//
// # What the server rejects itself
//
// Every request the codec refuses (see ReadRequest for the rules) is answered
// with 400, or 431 when the head is larger than Server.MaxHeaderBytes, with
// X-Outrigger-Error: bad_request, a text/plain body naming the problem and
// Connection: close; then the connection is closed (RFC 9112 §6.1 and §11.2:
// after a framing error nothing else on the connection can be trusted).
// RequestError.Reason is one of a small fixed set of strings, so it is safe
// as a metrics label.
//
// # Concurrency
//
//   - Server: Serve, Shutdown, Close and ActiveConns may be called from any
//     goroutine, concurrently. The exported fields are configuration: set them
//     before Serve and do not change them afterwards.
//   - Each accepted connection is served by one goroutine that reads requests
//     one after another and calls the handler on that goroutine.
//   - The http.ResponseWriter given to a handler, like net/http's, must only be
//     used by one goroutine at a time and not after ServeHTTP returns.
//     r.Body may be read concurrently with ResponseWriter calls (a proxy
//     streams the request body upstream while it writes the response), but not
//     after ServeHTTP returns.
//   - Server.OnBadRequest is called on the connection's goroutine; it must not
//     block.
//
// # Deliberately unsupported
//
//   - HTTP/0.9, HTTP/2 (the prior-knowledge preface is a 400) and h2c upgrade
//     in the codec itself; a handler may still hijack for other upgrades.
//   - Transfer codings other than a single "chunked"; obs-fold; more than one
//     empty line before the request line; Expect values other than
//     100-continue (400, not 417).
//   - Write timeouts and whole-request read timeouts: the proxy bounds the
//     handler itself; Shutdown/Close unblock stuck writes.
//   - TLS details: r.TLS is never set (the listeners are plaintext and local).
package h1
