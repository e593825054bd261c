package localreply

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
		UpstreamProtocolError: {"upstream_protocol_error", 502}, NoRoute: {"no_route", 404},
		RateLimited: {"rate_limited", 429}, Forbidden: {"forbidden", 403},
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

func TestSetRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1"}, {-time.Second, "1"}, {time.Nanosecond, "1"}, {time.Second, "1"},
		{time.Second + time.Nanosecond, "2"}, {2 * time.Second, "2"}, {60 * time.Second, "60"},
		{61 * time.Second, "61"}, {3600 * time.Second, "3600"},
	} {
		h := http.Header{}
		SetRetryAfter(h, tc.d)
		if got := h.Get("Retry-After"); got != tc.want || len(h["Retry-After"]) != 1 {
			t.Errorf("SetRetryAfter(%v) = %q, want %q", tc.d, h["Retry-After"], tc.want)
		}
	}
}

// TestRateLimitedReply is the whole reply a refused request gets: 429, the
// code, the wait, and Write keeps the Retry-After set before it.
func TestRateLimitedReply(t *testing.T) {
	rec := httptest.NewRecorder()
	SetRetryAfter(rec.Header(), 1500*time.Millisecond)
	Write(rec, RateLimited, RateLimited.Status(), "")
	if rec.Code != 429 || rec.Header().Get(Header) != "rate_limited" || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	if got := rec.Body.String(); got != "rate_limited\n" {
		t.Fatalf("body %q", got)
	}
}

// TestSetRetryAfterAllocs: the common waits (up to a minute) cost no
// allocation; the shared values are safe to Add to (append copies).
func TestSetRetryAfterAllocs(t *testing.T) {
	h := http.Header{}
	if n := testing.AllocsPerRun(100, func() { SetRetryAfter(h, 3*time.Second) }); n != 0 {
		t.Fatalf("%v allocs per call", n)
	}
	h.Add("Retry-After", "x")
	if retryAfterValues[3][0] != "3" || len(retryAfterValues[3]) != 1 {
		t.Fatalf("shared value changed: %q", retryAfterValues[3])
	}
}
