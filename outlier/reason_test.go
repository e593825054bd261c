package outlier

import (
	"testing"
	"time"
)

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		ReasonNone:              "",
		Consecutive5xx:          "consecutive_5xx",
		ConsecutiveLocalFailure: "consecutive_local_failure",
		FailurePercentage:       "failure_percentage",
		Latency:                 "latency",
		Reason(NumReasons):      "reason(5)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, want)
		}
	}
	if NumReasons != 5 {
		t.Errorf("NumReasons = %d", NumReasons)
	}
	for o, want := range map[Outcome]string{Success: "success", Upstream5xx: "upstream_5xx", LocalFailure: "local_failure", Ignored: "ignored", 9: "outcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
}

func TestZeroHost(t *testing.T) {
	var h Host
	if h.Address() != "" || h.Ejected() || !h.EjectedUntil().IsZero() || h.Reason() != ReasonNone || h.Ejections() != 0 {
		t.Fatal("the zero Host is not a healthy host without history")
	}
	for r := range NumReasons + 1 {
		if h.EjectionsTotal(Reason(r)) != 0 {
			t.Fatalf("EjectionsTotal(%d) != 0", r)
		}
	}
	h.Init("10.1.2.3:8080")
	if h.Address() != "10.1.2.3:8080" {
		t.Fatalf("Address() = %q", h.Address())
	}
}

func TestEjectionsTotalPerReason(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 2, 2
	cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 50, 2
	cfg.BaseEjectionTime, cfg.MaxEjectionTime = time.Second, 10*time.Second
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	back := func() {
		t.Helper()
		f.clock.Advance(10 * time.Second)
		if !f.d.Sweep() || h.Ejected() {
			t.Fatal("not returned")
		}
	}
	want := [NumReasons]uint64{}
	for _, step := range []Reason{Consecutive5xx, ConsecutiveLocalFailure, Consecutive5xx, FailurePercentage, Consecutive5xx} {
		switch step {
		case Consecutive5xx:
			f.record(h, Upstream5xx, 2)
		case ConsecutiveLocalFailure:
			f.record(h, LocalFailure, 2)
		case FailurePercentage:
			f.record(h, Upstream5xx, 1)
			f.record(h, Success, 1)
			f.d.Sweep()
		}
		if !h.Ejected() || h.Reason() != step {
			t.Fatalf("step %q: ejected %v reason %q", step, h.Ejected(), h.Reason())
		}
		want[step]++
		for r := range NumReasons {
			if got := h.EjectionsTotal(Reason(r)); got != want[r] {
				t.Fatalf("after %q: EjectionsTotal(%q) = %d, want %d", step, Reason(r), got, want[r])
			}
		}
		back()
	}
	// Totals never decay, unlike the ejection count.
	f.clock.Advance(time.Hour)
	for range 20 {
		f.clock.Advance(time.Second)
		f.d.Sweep()
	}
	if h.Ejections() != 0 || h.EjectionsTotal(Consecutive5xx) != 3 {
		t.Errorf("ejections %d total %d; want 0 3", h.Ejections(), h.EjectionsTotal(Consecutive5xx))
	}
}
