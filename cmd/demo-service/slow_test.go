package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// doCtx sends one request to b under ctx and returns the recorded answer.
func doCtx(ctx context.Context, b *backend, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(method, target, nil).WithContext(ctx))
	return rec
}

// controlAnswer decodes the answer of a control request, failing the test
// unless it is 200.
func controlAnswer(t *testing.T, rec *httptest.ResponseRecorder) controlState {
	t.Helper()
	var st controlState
	if rec.Code != http.StatusOK {
		t.Fatalf("control: status %d: %s", rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("control: body %q: %v", rec.Body.String(), err)
	}
	return st
}

func TestSlowSwitch(t *testing.T) {
	b := newTestBackend(t)
	if st := controlAnswer(t, do(b, http.MethodPost, "/control/slow?delay=1m")); st != (controlState{Instance: "payments-1", Listen: "127.0.0.1:7001", Delay: "1m0s"}) {
		t.Errorf("POST /control/slow?delay=1m: %+v", st)
	}

	// While slow, a request waits: one whose client gives up after 20ms
	// is never answered.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if rec := doCtx(ctx, b, http.MethodGet, "/pay"); rec.Body.Len() != 0 {
		t.Errorf("GET /pay while slow by 1m answered %q within 20ms", rec.Body.String())
	}
	// /health and /control/* do not wait.
	ctx5, cancel5 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel5()
	if rec := doCtx(ctx5, b, http.MethodGet, "/health"); rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("GET /health while slow: %d %q, want 200 \"ok\"", rec.Code, rec.Body.String())
	}
	// Failing while slow: both switches hold, and heal turns off both.
	st := controlAnswer(t, doCtx(ctx5, b, http.MethodPost, "/control/fail?status=502"))
	if !st.Failing || st.Status != 502 || st.Delay != "1m0s" {
		t.Errorf("POST /control/fail while slow: %+v, want failing 502 and still slow", st)
	}
	if st := controlAnswer(t, doCtx(ctx5, b, http.MethodPost, "/control/heal")); st.Failing || st.Status != 0 || st.Delay != "" {
		t.Errorf("POST /control/heal: %+v, want neither failing nor slow", st)
	}
	if b.slowDelay.Load() != 0 || b.failStatus.Load() != 0 {
		t.Errorf("after heal: delay %d, fail %d; want 0, 0", b.slowDelay.Load(), b.failStatus.Load())
	}
	if rec := doCtx(ctx5, b, http.MethodGet, "/pay"); rec.Code != http.StatusOK || ctx5.Err() != nil {
		t.Errorf("GET /pay after heal: %d (%v), want 200 at once", rec.Code, ctx5.Err())
	}
}

func TestSlowAddsToLatency(t *testing.T) {
	b := newTestBackend(t)
	b.latency = 20 * time.Millisecond
	controlAnswer(t, do(b, http.MethodPost, "/control/slow?delay=30ms"))
	start := time.Now()
	if rec := do(b, http.MethodGet, "/pay"); rec.Code != http.StatusOK {
		t.Fatalf("GET /pay: %d", rec.Code)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("answered after %s, want at least -latency 20ms + slow 30ms", took)
	}
}

func TestSlowErrors(t *testing.T) {
	for _, target := range []string{
		"/control/slow", "/control/slow?delay=", "/control/slow?delay=abc", "/control/slow?delay=200",
		"/control/slow?delay=0s", "/control/slow?delay=-1s", "/control/slow?delay=2m",
	} {
		b := newTestBackend(t)
		b.slowDelay.Store(int64(time.Second))
		rec := do(b, http.MethodPost, target)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "delay") {
			t.Errorf("POST %s: %d %q, want 400 naming delay", target, rec.Code, rec.Body.String())
		}
		if got := time.Duration(b.slowDelay.Load()); got != time.Second {
			t.Errorf("POST %s changed the switch to %s", target, got)
		}
	}
	b := newTestBackend(t)
	if rec := do(b, http.MethodGet, "/control/slow?delay=1s"); rec.Code != http.StatusMethodNotAllowed || b.slowDelay.Load() != 0 {
		t.Errorf("GET /control/slow: %d, delay %d; want 405 and no change", rec.Code, b.slowDelay.Load())
	}
}

func TestControlSlowAndHeal(t *testing.T) {
	b, addr := startBackend(t)
	steps := []struct {
		args      []string
		wantOut   string
		wantDelay time.Duration
		wantFail  int32
	}{
		{[]string{"control", "-addr", addr, "slow", "-delay", "200ms"}, "payments-1 (" + addr + "): slow on purpose: every request but /health and /control/* waits 200ms more\n", 200 * time.Millisecond, 0},
		{[]string{"control", "-addr", addr, "fail"}, "payments-1 (" + addr + "): failing on purpose: every request but /health and /control/* answers 503\n", 200 * time.Millisecond, 503},
		{[]string{"control", "slow", "-delay", "1.5s", "-addr", addr}, "payments-1 (" + addr + "): slow on purpose: every request but /health and /control/* waits 1.5s more\n", 1500 * time.Millisecond, 503},
		{[]string{"control", "-addr", addr, "heal"}, "payments-1 (" + addr + "): healed: answering normally\n", 0, 0},
	}
	for _, s := range steps {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), s.args, &out, &errOut); code != exitOK {
			t.Fatalf("%q: exit %d: %s", s.args, code, errOut.String())
		}
		if out.String() != s.wantOut {
			t.Errorf("%q: stdout %q, want %q", s.args, out.String(), s.wantOut)
		}
		if got := time.Duration(b.slowDelay.Load()); got != s.wantDelay {
			t.Errorf("%q: the slow switch is %s, want %s", s.args, got, s.wantDelay)
		}
		if got := b.failStatus.Load(); got != s.wantFail {
			t.Errorf("%q: the failure switch is %d, want %d", s.args, got, s.wantFail)
		}
	}
}

func TestControlSlowNotTaken(t *testing.T) {
	// An old demo-service: it answers control requests without a delay.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"instance":"x","listen":"y","failing":false}`))
	}))
	defer old.Close()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"control", "-addr", strings.TrimPrefix(old.URL, "http://"), "slow", "-delay", "200ms"}, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "/control/slow?delay=200ms: the instance answered") {
		t.Errorf("exit %d, stderr %q; want 1 and the answer quoted", code, errOut.String())
	}
}

// TestSlowSwitchConcurrent flips the slow switch while requests are
// served; run with -race.
func TestSlowSwitchConcurrent(t *testing.T) {
	flipWhileServing(t, "/control/slow?delay=1ms", http.StatusOK)
}
