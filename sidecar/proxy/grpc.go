package proxy

import (
	"net/http"
	"strings"
)

// grpcUnwell reports whether a complete gRPC answer says the server is
// unwell: a gRPC call fails with HTTP status 200, and its real status is
// grpc-status, in the trailers or, for a Trailers-Only response (an error
// before any message), in the headers. UNKNOWN (2), DEADLINE_EXCEEDED (4),
// INTERNAL (13) and UNAVAILABLE (14) say the server is unwell, and count
// like a 5xx for the outlier detector and the breaker; every other code is
// the application's answer (NOT_FOUND, INVALID_ARGUMENT, ...) and a
// success. A response without grpc-status keeps its HTTP outcome.
//
// Only application/grpc and application/grpc+<codec> are looked at:
// gRPC-Web (application/grpc-web...) carries its status inside the body.
// It allocates nothing.
func grpcUnwell(resp *http.Response) bool {
	if resp.StatusCode >= 500 || !isGRPC(resp.Header["Content-Type"]) {
		return false
	}
	status := resp.Trailer["Grpc-Status"]
	if len(status) == 0 {
		status = resp.Header["Grpc-Status"]
	}
	if len(status) == 0 {
		return false
	}
	switch status[0] {
	case "2", "4", "13", "14":
		return true
	}
	return false
}

// isGRPC reports whether a Content-Type is gRPC's: application/grpc,
// optionally followed by +codec or ;parameters.
func isGRPC(contentType []string) bool {
	const grpc = "application/grpc"
	if len(contentType) == 0 {
		return false
	}
	ct := contentType[0]
	if len(ct) < len(grpc) || !strings.EqualFold(ct[:len(grpc)], grpc) {
		return false
	}
	return len(ct) == len(grpc) || ct[len(grpc)] == '+' || ct[len(grpc)] == ';'
}
