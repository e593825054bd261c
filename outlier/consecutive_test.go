package outlier

import (
	"testing"
	"time"
)

func TestConsecutiveFiresAtExactlyThreshold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outcome   Outcome
		threshold int
		want      Reason
	}{
		{"5xx threshold 1", Upstream5xx, 1, Consecutive5xx},
		{"5xx threshold 2", Upstream5xx, 2, Consecutive5xx},
		{"5xx threshold 5", Upstream5xx, 5, Consecutive5xx},
		{"local threshold 1", LocalFailure, 1, ConsecutiveLocalFailure},
		{"local threshold 3", LocalFailure, 3, ConsecutiveLocalFailure},
		{"local threshold 7", LocalFailure, 7, ConsecutiveLocalFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 100, 100
			if tc.outcome == Upstream5xx {
				cfg.Consecutive5xx = tc.threshold
			} else {
				cfg.ConsecutiveLocalFailure = tc.threshold
			}
			f := newFixture(t, cfg, 2)
			h := f.hosts[0]
			if got := f.record(h, tc.outcome, tc.threshold-1); got != 0 || h.Ejected() {
				t.Fatalf("after %d failures: changed %d times, ejected %v; want no ejection", tc.threshold-1, got, h.Ejected())
			}
			if !f.d.Record(h, tc.outcome, time.Millisecond) {
				t.Fatalf("failure %d: Record reported no change", tc.threshold)
			}
			if !h.Ejected() || h.Reason() != tc.want || h.Ejections() != 1 {
				t.Fatalf("ejected %v reason %q ejections %d; want true %q 1", h.Ejected(), h.Reason(), h.Ejections(), tc.want)
			}
			if want := t0.Add(30 * time.Second); !h.EjectedUntil().Equal(want) {
				t.Errorf("EjectedUntil = %v, want %v", h.EjectedUntil(), want)
			}
			if f.hosts[1].Ejected() {
				t.Error("the other host was ejected too")
			}
			// Failures that finish while h is ejected change nothing.
			if got := f.record(h, tc.outcome, 3*tc.threshold); got != 0 {
				t.Errorf("an ejected host's failures reported %d changes", got)
			}
		})
	}
}

func TestConsecutiveResets(t *testing.T) {
	// Sequences use 5 = Upstream5xx, L = LocalFailure, S = Success,
	// I = Ignored; both thresholds are 3. at is the index of the outcome
	// that ejects, -1 for none.
	for _, tc := range []struct {
		name string
		seq  string
		at   int
		want Reason
	}{
		{"three 5xx", "555", 2, Consecutive5xx},
		{"success resets the 5xx run", "55S55", -1, ReasonNone},
		{"a fresh 5xx run after a success", "55S555", 5, Consecutive5xx},
		{"local failure does not reset the 5xx run", "55L5", 3, Consecutive5xx},
		{"local failures between 5xx count for neither", "5L5L5", 4, Consecutive5xx},
		{"ignored does not reset the 5xx run", "55I5", 3, Consecutive5xx},
		{"three local failures", "LLL", 2, ConsecutiveLocalFailure},
		{"5xx resets the local run", "LL5LL", -1, ReasonNone},
		{"success resets the local run", "LLSLL", -1, ReasonNone},
		{"ignored does not reset the local run", "LLIL", 3, ConsecutiveLocalFailure},
		{"ignored alone", "IIIIIIII", -1, ReasonNone},
		{"alternating", "5L5L", -1, ReasonNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 3, 3
			f := newFixture(t, cfg, 2)
			h := f.hosts[0]
			at := -1
			for i, c := range tc.seq {
				o := map[rune]Outcome{'5': Upstream5xx, 'L': LocalFailure, 'S': Success, 'I': Ignored}[c]
				if f.d.Record(h, o, time.Millisecond) {
					if at >= 0 {
						t.Fatalf("second change at %d (first at %d)", i, at)
					}
					at = i
				}
			}
			if at != tc.at || h.Reason() != tc.want || h.Ejected() != (tc.at >= 0) {
				t.Errorf("change at %d reason %q ejected %v; want at %d reason %q", at, h.Reason(), h.Ejected(), tc.at, tc.want)
			}
		})
	}
}

func TestZeroThresholdDisablesRule(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 0, 0
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	if f.record(h, Upstream5xx, 1000)+f.record(h, LocalFailure, 1000) != 0 || h.Ejected() {
		t.Fatal("a host was ejected with both consecutive rules disabled")
	}
}

func TestEjectionResetsCounters(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 3, 3
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	f.record(h, LocalFailure, 2) // a local run that the ejection must clear too
	f.eject5xx(t, h)
	if h.cons5xx.Load() != 0 || h.consLocal.Load() != 0 {
		t.Fatalf("counters after ejection: 5xx %d local %d, want 0 0", h.cons5xx.Load(), h.consLocal.Load())
	}
	f.clock.Advance(30 * time.Second)
	if !f.d.Sweep() || h.Ejected() {
		t.Fatal("host not returned at EjectedUntil")
	}
	// Back in rotation, it takes a whole fresh run to be ejected again.
	if f.record(h, Upstream5xx, 2) != 0 || f.record(h, LocalFailure, 2) != 0 {
		t.Fatal("a returned host was ejected before a fresh run")
	}
	if !f.d.Record(h, LocalFailure, time.Millisecond) || h.Reason() != ConsecutiveLocalFailure {
		t.Fatalf("third local failure: ejected %v reason %q", h.Ejected(), h.Reason())
	}
}

func TestDisabledDetectorDoesNothing(t *testing.T) {
	cfg := testConfig()
	cfg.Enabled = false
	cfg.Consecutive5xx, cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 1, 1, 1
	f := newFixture(t, cfg, 3)
	if f.d.Enabled() {
		t.Fatal("Enabled() = true")
	}
	for _, h := range f.hosts {
		for _, o := range []Outcome{Upstream5xx, LocalFailure, Success, Ignored} {
			if f.record(h, o, 10) != 0 {
				t.Fatalf("Record(%v) reported a change", o)
			}
		}
		if h.window.Load() != 0 || h.cons5xx.Load() != 0 || h.consLocal.Load() != 0 {
			t.Fatalf("a disabled detector counted: window %#x 5xx %d local %d", h.window.Load(), h.cons5xx.Load(), h.consLocal.Load())
		}
	}
	f.clock.Advance(time.Hour)
	if f.d.Sweep() || f.ejectedCount() != 0 {
		t.Fatal("a disabled detector ejected")
	}
	// A nil detector is a disabled one.
	var d *Detector
	d.SetHosts(f.hosts)
	if d.Enabled() || d.Record(f.hosts[0], Upstream5xx, time.Millisecond) || d.Sweep() {
		t.Fatal("a nil detector reported something")
	}
}

func TestUnlistedHostIsNeverEjected(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 2, 50, 4
	f := newFixture(t, cfg, 3)
	stranger := new(Host)
	stranger.Init("10.9.9.9:80")
	if f.record(stranger, Upstream5xx, 10) != 0 || stranger.Ejected() {
		t.Fatal("a host never listed was ejected")
	}
	// A host that leaves discovery is not ejected either.
	gone := f.hosts[2]
	f.d.SetHosts(f.hosts[:2])
	f.record(gone, Upstream5xx, 10)
	if f.d.Sweep() || gone.Ejected() {
		t.Fatal("a host that left the set was ejected")
	}
	if gone.cons5xx.Load() != 0 {
		t.Errorf("the attempt still restarts the run: cons5xx = %d, want 0", gone.cons5xx.Load())
	}
	// Back in the set, its stale window is dropped and it is judged afresh.
	f.d.SetHosts(f.hosts)
	if f.d.Sweep() || gone.Ejected() {
		t.Fatal("a returning host was judged on failures from before it came back")
	}
}
