package localreply

import (
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, ConnectFailure, ConnectFailure.Status(), "dial tcp 127.0.0.1:1: connection refused")
	if rec.Code != 502 || rec.Header().Get(Header) != "connect_failure" {
		t.Fatalf("status %d header %q", rec.Code, rec.Header().Get(Header))
	}
	if got, want := rec.Body.String(), "connect_failure: dial tcp 127.0.0.1:1: connection refused\n"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
}

func TestEveryReasonHasNameAndStatus(t *testing.T) {
	want := map[Reason][2]any{
		NoHealthyUpstream: {"no_healthy_upstream", 503}, CircuitOpen: {"circuit_open", 503},
		Overflow: {"overflow", 503}, RetryBudgetExhausted: {"retry_budget_exhausted", 503},
		ConnectFailure: {"connect_failure", 502}, UpstreamReset: {"upstream_reset", 502},
		UpstreamTimeout: {"upstream_timeout", 504}, BadRequest: {"bad_request", 400},
		UpstreamProtocolError: {"upstream_protocol_error", 502}, NoRoute: {"no_route", 404}, Forbidden: {"forbidden", 403},
	}
	if len(want) != NumReasons {
		t.Fatalf("table covers %d of %d reasons", len(want), NumReasons)
	}
	for r, w := range want {
		if r.String() != w[0] || r.Status() != w[1] {
			t.Errorf("%d: %s %d, want %v", r, r.String(), r.Status(), w)
		}
	}
}
