package router

// Review tests (routing listeners): route-dodging and counting. Each test
// states the expectation the contract (docs/routing.md) implies; a failure
// is a finding.

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// "..;" is ".." to Tomcat, Jetty and Spring (path parameters are removed
// before dot segments are resolved): "/public/..;/admin" reaches the
// public route here and "/admin" there, which is what refusing dot
// segments is meant to prevent (docs/routing.md, "Dot segments are
// refused").
func TestAttackDotSegmentWithPathParameter(t *testing.T) {
	tbl, got := compile(t, []config.Route{
		to("public", config.Match{PathPrefix: "/public/"}),
	}, Options{})
	h := NewHandler("edge", "http", tbl, nil)
	for _, target := range []string{"/public/..;/admin", "/public/%2e%2e;/admin", "/public/..;x=1/admin", "/public/.;/x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://h"+target, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d (sent to %v), want 400: a ';' dot segment", target, rec.Code, *got)
		}
		*got = (*got)[:0]
	}
}

// A path_regex such as "/users/.*" is anchored and must match the whole
// decoded path; RE2's "." does not match "\n" without the s flag, so a
// path with "%0A" escapes the route and falls through to a later one.
func TestAttackRegexDotAndEncodedNewline(t *testing.T) {
	tbl, _ := compile(t, []config.Route{
		to("users", config.Match{PathRegex: "/users/.*"}),
		to("rest", config.Match{}),
	}, Options{})
	r := httptest.NewRequest("GET", "http://h/users/a%0Ab", nil)
	if rt := tbl.Match(r); rt == nil || rt.Name() != "route-0" {
		name := "<nil>"
		if rt != nil {
			name = rt.Name()
		}
		t.Errorf("/users/a%%0Ab matched %s, want route-0 (path_regex /users/.*)", name)
	}
}

// CONNECT names an authority, not a path: a routing listener has nothing
// to route it by, and refuses it before any route (or endpoint) sees it.
func TestAttackConnectIsRefused(t *testing.T) {
	tbl, got := compile(t, []config.Route{to("any", config.Match{})}, Options{})
	h := NewHandler("edge", "http", tbl, nil)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodConnect, "http://internal.example:22", nil)
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusBadRequest || len(*got) != 0 {
		t.Errorf("CONNECT: status %d, sent to %v; want 400 and nothing sent", rec.Code, *got)
	}
}
