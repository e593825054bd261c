package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// startGauge starts a server that answers after delay and records how many
// requests it got and the most it had in flight at once.
func startGauge(t *testing.T, delay time.Duration) (url string, served, maxInFlight *atomic.Int64) {
	t.Helper()
	served, maxInFlight = new(atomic.Int64), new(atomic.Int64)
	var inFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		served.Add(1)
		sleepCtx(r.Context(), delay)
		w.Write([]byte(`{"instance":"i-0"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, served, maxInFlight
}

func TestPacedRunSendsRateTimesDuration(t *testing.T) {
	url, served, _ := startGauge(t, 0)
	c := testLoadConfig(url, maxRequests, 4)
	c.rate, c.duration = 100, 300*time.Millisecond
	start := time.Now()
	r := drive(context.Background(), newLoadClient(c.concurrency), c)

	// Request i is due at i/100 s: 0, 10ms, ..., 290ms; 300ms is not < 300ms.
	if got := served.Load(); got != 30 || r.Answered != 30 {
		t.Fatalf("server got %d, answered %d; want exactly 30 (100/s for 300ms)", got, r.Answered)
	}
	if took := time.Since(start); took < 290*time.Millisecond {
		t.Errorf("the run took %s, want at least 290ms (the last request's due time)", took)
	}
}

func TestPacedRunNeverSendsEarly(t *testing.T) {
	url, _, _ := startGauge(t, 0)
	c := testLoadConfig(url, 20, 3)
	c.rate = 200 // due at 0, 5ms, ..., 95ms
	client := newLoadClient(c.concurrency)
	ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
	defer cancel()
	start := time.Now()
	next := tickets(ctx, c, start)
	var sent []time.Duration
	for next() {
		sent = append(sent, time.Since(start))
		if _, ok := once(ctx, client, c); !ok {
			t.Fatal("the run's context ended")
		}
	}
	if len(sent) != 20 {
		t.Fatalf("%d tickets, want -requests 20", len(sent))
	}
	slices.Sort(sent)
	for i, at := range sent {
		if due := time.Duration(i) * 5 * time.Millisecond; at < due {
			t.Errorf("request %d was sent at %s, before it was due at %s", i, at, due)
		}
	}
}

func TestPacedRunFallsBehindWithinConcurrency(t *testing.T) {
	// 200/s for 100ms is 20 requests; answers take 20ms and there are 2
	// workers, so the run falls behind, yet sends all 20 and never more
	// than 2 at a time.
	url, served, maxInFlight := startGauge(t, 20*time.Millisecond)
	c := testLoadConfig(url, maxRequests, 2)
	c.rate, c.duration = 200, 100*time.Millisecond
	r := drive(context.Background(), newLoadClient(c.concurrency), c)
	if got := served.Load(); got != 20 || r.Answered != 20 || r.problem(200) != "" {
		t.Fatalf("server got %d, answered %d, problem %q; want 20, 20, none", got, r.Answered, r.problem(200))
	}
	if m := maxInFlight.Load(); m > 2 {
		t.Errorf("%d requests in flight at once, want at most -concurrency 2", m)
	}
}

func TestDurationBoundsAClosedLoop(t *testing.T) {
	url, served, _ := startGauge(t, time.Millisecond)
	c, err := parseLoadFlags([]string{"-url", url, "-duration", "200ms", "-concurrency", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.requests != maxRequests {
		t.Fatalf("-duration without -requests: requests %d, want no cap (%d)", c.requests, maxRequests)
	}
	start := time.Now()
	r := drive(context.Background(), newLoadClient(c.concurrency), c)
	took := time.Since(start)
	if took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("a 200ms run took %s", took)
	}
	if served.Load() == 0 || int64(r.Answered) != served.Load() || r.DeadlineExceeded || r.problem(200) != "" {
		t.Errorf("served %d, answered %d, deadline %v, problem %q", served.Load(), r.Answered, r.DeadlineExceeded, r.problem(200))
	}

	// -requests still caps a run with -duration.
	c, err = parseLoadFlags([]string{"-url", url, "-duration", "1m", "-requests", "5"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	served.Store(0)
	if r := drive(context.Background(), newLoadClient(c.concurrency), c); r.Answered != 5 || served.Load() != 5 {
		t.Errorf("-requests 5 -duration 1m: answered %d, served %d; want 5", r.Answered, served.Load())
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		r    report
		want string
	}{
		{report{URL: "http://x/", Requested: 600, Concurrency: 16}, "600 requests to http://x/ with 16 workers"},
		{report{URL: "http://x/", Requested: 1_000_000, Concurrency: 64, DurationSeconds: 3}, "requests for 3s to http://x/ with 64 workers"},
		{report{URL: "http://x/", Requested: 1_000_000, Concurrency: 16, DurationSeconds: 11, Rate: 200}, "200 requests a second for 11s to http://x/ (up to 16 at a time)"},
		{report{URL: "http://x/", Requested: 50, Concurrency: 4, Rate: 10}, "50 requests to http://x/ at 10 a second (up to 4 at a time)"},
	}
	for _, tt := range tests {
		if got := tt.r.describe(); got != tt.want {
			t.Errorf("describe() = %q, want %q", got, tt.want)
		}
	}
}
