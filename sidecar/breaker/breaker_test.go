package breaker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// gobreaker reads time.Now itself; testing/synctest gives it a fake clock,
// so every transition here is exact and time.Sleep costs no real time.
func testConfig() config.CircuitBreaker {
	return config.CircuitBreaker{MaxRequests: 1024, FailureRatio: 0.5, MinRequests: 4,
		Interval: 10 * time.Second, OpenTimeout: 30 * time.Second, HalfOpenRequests: 2}
}

func attempt(t *testing.T, b *Breaker, outcome error) bool {
	t.Helper()
	done, ok := b.Allow()
	if ok {
		done(outcome)
	}
	return ok
}

func TestBreakerTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		b := New("payments", testConfig(), slog.New(slog.NewTextHandler(&logs, nil)))

		// Below min_requests nothing trips, whatever the ratio.
		for range 3 {
			attempt(t, b, ErrFailure)
		}
		if b.State() != Closed {
			t.Fatalf("opened below min_requests: %s", b.State())
		}
		// The 4th request reaches min_requests with 4/4 failures: open.
		attempt(t, b, ErrFailure)
		if b.State() != Open || int(b.State()) != 2 || b.State().String() != "open" {
			t.Fatalf("state %s, want open", b.State())
		}
		if attempt(t, b, nil) {
			t.Fatal("an open breaker admitted a request")
		}

		// Once open_timeout has passed (gobreaker: strictly after it):
		// half-open, with half_open_requests probes.
		time.Sleep(30 * time.Second)
		if b.State() != Open {
			t.Fatal("half-open before open_timeout passed")
		}
		time.Sleep(time.Nanosecond)
		if b.State() != HalfOpen || int(b.State()) != 1 || b.State().String() != "half_open" {
			t.Fatalf("state %s, want half_open", b.State())
		}
		d1, ok1 := b.Allow()
		d2, ok2 := b.Allow()
		if _, ok3 := b.Allow(); !ok1 || !ok2 || ok3 {
			t.Fatalf("probes admitted: %v %v %v, want 2 of 3", ok1, ok2, ok3)
		}
		// One failing probe re-opens it.
		d1(nil)
		d2(ErrFailure)
		if b.State() != Open {
			t.Fatalf("state %s after a failed probe, want open", b.State())
		}

		// Next half-open: both probes succeed → closed.
		time.Sleep(30*time.Second + time.Nanosecond)
		attempt(t, b, nil)
		if b.State() != HalfOpen {
			t.Fatal("one success of two closed it")
		}
		attempt(t, b, nil)
		if b.State() != Closed || int(b.State()) != 0 || b.State().String() != "closed" {
			t.Fatalf("state %s, want closed", b.State())
		}
		for _, want := range []string{"from=closed to=open", "from=open to=half_open", "from=half_open to=open", "from=half_open to=closed"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs.String())
			}
		}
	})
}

func TestBreakerRatioAndInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New("payments", testConfig(), nil)
		// 2 failures of 5 (40 %) stays closed.
		for _, o := range []error{nil, nil, ErrFailure, nil, ErrFailure} {
			attempt(t, b, o)
		}
		if b.State() != Closed {
			t.Fatal("opened at 40 %")
		}
		// Once the counting window has passed, counts start over.
		time.Sleep(10*time.Second + time.Nanosecond)
		attempt(t, b, ErrFailure)
		attempt(t, b, ErrFailure)
		attempt(t, b, nil)
		if b.State() != Closed {
			t.Fatal("old counts survived the interval")
		}
		attempt(t, b, ErrFailure) // 3/4 ≥ 50 % with 4 requests
		if b.State() != Open {
			t.Fatalf("state %s, want open", b.State())
		}
	})
}

func TestExcludedCountsForNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New("payments", testConfig(), nil)
		for range 10 {
			attempt(t, b, ErrExcluded) // client cancellations
		}
		for range 3 {
			attempt(t, b, ErrFailure)
		}
		if b.State() != Closed {
			t.Fatal("excluded outcomes counted towards min_requests")
		}
	})
}

// Requests a client abandoned (ErrExcluded) count for nothing, not even in the
// ratio's denominator: before the fix, 100 hang-ups then 40 failures out of
// 40 left the breaker closed (40/140 < 0.5), so clients could keep an
// upstream's breaker shut.
func TestExcludedDoNotDiluteTheRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New("payments", testConfig(), nil)
		for range 100 {
			attempt(t, b, ErrExcluded)
		}
		for range 3 {
			attempt(t, b, ErrFailure)
		}
		if b.State() != Closed {
			t.Fatalf("opened below min_requests of counted requests: %s", b.State())
		}
		attempt(t, b, ErrFailure)
		if b.State() != Open {
			t.Fatalf("state %s after 4 failures of 4 counted requests, want open", b.State())
		}
	})
}
