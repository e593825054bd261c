package outlier

import (
	"testing"
)

func TestFailurePercentage(t *testing.T) {
	// failure_percentage 50 and min requests 10 unless a row says otherwise;
	// the consecutive rules are off.
	for _, tc := range []struct {
		name              string
		pct               float64
		min               int
		success, s5xx, lf int
		want              bool
	}{
		{"exactly at the threshold", 50, 10, 5, 5, 0, true},
		{"local failures count as failures", 50, 10, 5, 0, 5, true},
		{"mixed failures", 50, 10, 5, 3, 2, true},
		{"one failure short", 50, 10, 6, 4, 0, false},
		{"above the threshold", 50, 10, 1, 9, 0, true},
		{"not enough volume", 50, 10, 0, 9, 0, false},
		{"exactly the minimum volume", 50, 10, 0, 10, 0, true},
		{"fractional percentage, at it", 12.5, 8, 7, 1, 0, true},
		{"fractional percentage, under it", 12.5, 9, 8, 1, 0, false},
		{"100 percent needs every request to fail", 100, 1, 1, 20, 0, false},
		{"100 percent, all failed", 100, 1, 0, 1, 0, true},
		{"min 0 still needs a request", 1, 0, 0, 0, 0, false},
		{"min 0 with one failure", 1, 0, 0, 1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 0, 0
			cfg.FailurePercentage, cfg.FailurePercentageMinRequests = tc.pct, tc.min
			f := newFixture(t, cfg, 2)
			h := f.hosts[0]
			f.record(h, Success, tc.success)
			f.record(h, Upstream5xx, tc.s5xx)
			f.record(h, LocalFailure, tc.lf)
			f.record(h, Ignored, 100) // counts for nothing either way
			if f.d.Sweep() != tc.want || h.Ejected() != tc.want {
				t.Fatalf("ejected %v, want %v", h.Ejected(), tc.want)
			}
			if tc.want && h.Reason() != FailurePercentage {
				t.Errorf("reason %q, want failure_percentage", h.Reason())
			}
			if f.hosts[1].Ejected() {
				t.Error("the idle host was ejected")
			}
			if h.window.Load() != 0 || f.hosts[1].window.Load() != 0 {
				t.Error("windows not reset by Sweep")
			}
		})
	}
}

func TestFailurePercentageWindowResetsEachSweep(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 0, 0
	cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 50, 10
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	f.record(h, Success, 10)
	f.record(h, Upstream5xx, 9) // 9 of 19: under 50%
	if f.d.Sweep() {
		t.Fatal("ejected under the threshold")
	}
	// 9 failures in this window only: not enough volume, even though
	// together with the last window's they would be.
	f.record(h, Upstream5xx, 9)
	if f.d.Sweep() || h.Ejected() {
		t.Fatal("the previous interval's requests were counted again")
	}
	f.record(h, Upstream5xx, 10)
	if !f.d.Sweep() || !h.Ejected() {
		t.Fatal("not ejected with 10 of 10 failing")
	}
}

func TestFailurePercentageWorstFirstWithinLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 0, 0
	cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 50, 10
	f := newFixture(t, cfg, 3) // 50% of 3: one at a time
	bad, worse := f.hosts[0], f.hosts[1]
	f.record(bad, Success, 4)
	f.record(bad, Upstream5xx, 6)
	f.record(worse, Success, 1)
	f.record(worse, LocalFailure, 9)
	if !f.d.Sweep() {
		t.Fatal("nothing ejected")
	}
	if !worse.Ejected() || bad.Ejected() || f.ejectedCount() != 1 {
		t.Fatalf("ejected: bad %v worse %v; want only the worse one", bad.Ejected(), worse.Ejected())
	}
	if got := f.logs.lines(t, "outlier ejection refused"); len(got) != 1 || got[0]["endpoint"] != bad.Address() {
		t.Errorf("refusal lines: %v", got)
	}
}
