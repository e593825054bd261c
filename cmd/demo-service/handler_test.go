package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// newTestBackend returns a backend whose rnd fails the test if called, so
// tests say explicitly when randomness is expected.
func newTestBackend(t *testing.T) *backend {
	t.Helper()
	return &backend{
		name:        "payments-1",
		listen:      "127.0.0.1:7001",
		errorStatus: http.StatusServiceUnavailable,
		rnd: func() float64 {
			t.Error("rnd called unexpectedly")
			return 0
		},
	}
}

// seq returns an rnd that yields vals in order.
func seq(t *testing.T, vals ...float64) func() float64 {
	t.Helper()
	return func() float64 {
		if len(vals) == 0 {
			t.Fatal("rnd called more often than expected")
		}
		v := vals[0]
		vals = vals[1:]
		return v
	}
}

func TestHealthIgnoresLatencyAndErrors(t *testing.T) {
	b := newTestBackend(t)
	b.latency = time.Hour
	b.errorRate = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(method, "/health", nil).WithContext(ctx))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s /health: status %d, want 200", method, rec.Code)
		}
		if method == http.MethodGet && rec.Body.String() != "ok" {
			t.Fatalf("GET /health: body %q, want %q", rec.Body.String(), "ok")
		}
	}
	if ctx.Err() != nil {
		t.Fatal("/health waited for the latency")
	}
}

func TestEcho(t *testing.T) {
	b := newTestBackend(t)
	req := httptest.NewRequest(http.MethodPost, "http://payments.local/pay/42?x=1", strings.NewReader(`{"amount":5}`))
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("baggage", "tenant=acme")
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)

	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	want := map[string]string{
		"instance":    "payments-1",
		"listen":      "127.0.0.1:7001",
		"method":      "POST",
		"path":        "/pay/42",
		"host":        "payments.local",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"baggage":     "tenant=acme",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["error"]; ok {
		t.Errorf("unexpected error field in %v", got)
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
}

func TestErrorRate(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		status int
		rnd    []float64
		want   []int
	}{
		{"never at 0", 0, 503, nil, []int{200, 200, 200}},
		{"always at 1", 1, 500, []float64{0, 0.5, 0.999999}, []int{500, 500, 500}},
		{"below rate fails", 0.3, 503, []float64{0.1, 0.5, 0.29, 0.3, 0.99}, []int{503, 200, 503, 200, 200}},
		{"custom status", 0.5, 429, []float64{0.49, 0.51}, []int{429, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBackend(t)
			b.errorRate = tt.rate
			b.errorStatus = tt.status
			if tt.rnd != nil {
				b.rnd = seq(t, tt.rnd...)
			}
			for i, want := range tt.want {
				rec := httptest.NewRecorder()
				b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay", nil))
				if rec.Code != want {
					t.Fatalf("request %d: status %d, want %d", i, rec.Code, want)
				}
				var e echo
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("request %d: body %q: %v", i, rec.Body.String(), err)
				}
				if e.Instance != "payments-1" {
					t.Errorf("request %d: instance %q", i, e.Instance)
				}
				if injected := e.Error == "injected"; injected != (want != 200) {
					t.Errorf("request %d: error field %q with status %d", i, e.Error, want)
				}
			}
		})
	}
}

func TestLatency(t *testing.T) {
	b := newTestBackend(t)
	b.latency = 30 * time.Millisecond
	start := time.Now()
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay", nil))
	if took := time.Since(start); took < b.latency {
		t.Fatalf("answered after %s, want at least %s", took, b.latency)
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
}

func TestLatencyStopsWhenClientLeaves(t *testing.T) {
	b := newTestBackend(t)
	b.latency = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay", nil).WithContext(ctx))
	if rec.Body.Len() != 0 {
		t.Fatalf("wrote %q to a client that left", rec.Body.String())
	}
}

// do sends one request to b and returns the recorded answer.
func do(b *backend, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestFailureSwitch(t *testing.T) {
	b := newTestBackend(t)
	b.errorRate = 0.5 // the switch takes precedence: rnd must not be called while failing

	// Failing: every request but /health and /control answers the status.
	rec := do(b, http.MethodPost, "/control/fail?status=500")
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /control/fail: status %d: %s", rec.Code, rec.Body.String())
	}
	var st controlState
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("POST /control/fail: body %q: %v", rec.Body.String(), err)
	}
	if want := (controlState{Instance: "payments-1", Listen: "127.0.0.1:7001", Failing: true, Status: 500}); st != want {
		t.Errorf("POST /control/fail: %+v, want %+v", st, want)
	}
	for _, target := range []string{"/pay", "/", "/healthz", "/health/x", "/controls"} {
		rec := do(b, http.MethodGet, target)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("GET %s while failing: status %d, want 500", target, rec.Code)
		}
		var e echo
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("GET %s: body %q: %v", target, rec.Body.String(), err)
		}
		if e.Instance != "payments-1" || e.Error != "failing on purpose" {
			t.Errorf("GET %s while failing: instance %q, error %q", target, e.Instance, e.Error)
		}
	}
	if rec := do(b, http.MethodGet, "/health"); rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("GET /health while failing: %d %q, want 200 \"ok\"", rec.Code, rec.Body.String())
	}

	// Failing again without a status means 503.
	if rec := do(b, http.MethodPost, "/control/fail"); rec.Code != http.StatusOK {
		t.Fatalf("POST /control/fail: status %d", rec.Code)
	}
	if rec := do(b, http.MethodGet, "/pay"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /pay after fail with no status: %d, want 503", rec.Code)
	}

	// Healed: back to normal (and to -error-rate).
	rec = do(b, http.MethodPost, "/control/heal")
	st = controlState{}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); rec.Code != http.StatusOK || err != nil || st.Failing || st.Status != 0 {
		t.Fatalf("POST /control/heal: %d %q", rec.Code, rec.Body.String())
	}
	b.rnd = seq(t, 0.9)
	if rec := do(b, http.MethodGet, "/pay"); rec.Code != http.StatusOK {
		t.Errorf("GET /pay after heal: %d, want 200", rec.Code)
	}
}

func TestControlErrors(t *testing.T) {
	tests := []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/control/fail", http.StatusMethodNotAllowed},
		{http.MethodPut, "/control/heal", http.StatusMethodNotAllowed},
		{http.MethodPost, "/control/fail?status=200", http.StatusBadRequest},
		{http.MethodPost, "/control/fail?status=600", http.StatusBadRequest},
		{http.MethodPost, "/control/fail?status=abc", http.StatusBadRequest},
		{http.MethodPost, "/control", http.StatusNotFound},
		{http.MethodPost, "/control/explode", http.StatusNotFound},
	}
	for _, tt := range tests {
		b := newTestBackend(t)
		rec := do(b, tt.method, tt.target)
		if rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.target, rec.Code, tt.want)
		}
		if tt.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s %s: Allow %q, want POST", tt.method, tt.target, rec.Header().Get("Allow"))
		}
		if b.failStatus.Load() != 0 {
			t.Errorf("%s %s turned the failure switch on", tt.method, tt.target)
		}
	}
}

func TestControlSkipsLatency(t *testing.T) {
	b := newTestBackend(t)
	b.latency = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/control/heal", nil).WithContext(ctx))
	if rec.Code != http.StatusOK || ctx.Err() != nil {
		t.Fatalf("POST /control/heal: %d after waiting for the latency: %v", rec.Code, ctx.Err())
	}
}

// TestFailureSwitchConcurrent flips the switch while requests are served;
// run with -race.
func TestFailureSwitchConcurrent(t *testing.T) {
	flipWhileServing(t, "/control/fail?status=502", http.StatusOK, http.StatusBadGateway)
}

// flipWhileServing posts on (every other time) and /control/heal 50 times
// while 50 GET /pay are served, each answered with one of want.
func flipWhileServing(t *testing.T, on string, want ...int) {
	t.Helper()
	b := newTestBackend(t)
	srv := httptest.NewServer(b)
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			path := "/control/heal"
			if i%2 == 0 {
				path = on
			}
			resp, err := srv.Client().Post(srv.URL+path, "", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}
	}()
	for range 50 {
		resp, err := srv.Client().Get(srv.URL + "/pay")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !slices.Contains(want, resp.StatusCode) {
			t.Fatalf("GET /pay: %d, want one of %v", resp.StatusCode, want)
		}
	}
	<-done
}
