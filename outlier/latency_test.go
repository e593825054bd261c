package outlier

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// latencyConfig has only the latency rule on: factor 5, 10 answers minimum.
func latencyConfig() config.Outlier {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure, cfg.FailurePercentage = 0, 0, 0
	cfg.FailurePercentageMinRequests = 10
	cfg.LatencyFactor = 5
	return cfg
}

// load is what one host answers in one interval.
type load struct {
	n   int
	lat time.Duration
	o   Outcome // Success unless set
}

func TestLatencyEjection(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		pct   float64 // max_ejection_percent; 50 when 0
		hosts []load
		want  []int // indices ejected
	}{
		{"slow among fast", 0, []load{{10, ms, 0}, {10, ms, 0}, {10, ms, 0}, {10, 200 * ms, 0}}, []int{3}},
		{"5xx answers are timed too", 0, []load{{10, ms, 0}, {10, ms, 0}, {10, 200 * ms, Upstream5xx}}, []int{2}},
		{"below the minimum answers", 0, []load{{10, ms, 0}, {10, ms, 0}, {9, 200 * ms, 0}}, nil},
		{"the only host with enough answers", 0, []load{{9, ms, 0}, {9, ms, 0}, {10, 200 * ms, 0}}, nil},
		{"two hosts: each against the other", 0, []load{{10, ms, 0}, {10, 6 * ms, 0}}, []int{1}},
		{"exactly factor × median stays", 0, []load{{10, ms, 0}, {10, 5 * ms, 0}}, nil},
		{"just above it goes", 0, []load{{10, ms, 0}, {10, 5*ms + 1, 0}}, []int{1}},
		// The others' median of 1ms and 3ms is 2ms: 10ms is the bar, where
		// the lower one would give 5ms and the upper one 15ms.
		{"even others: the middle two's mean, under", 0, []load{{10, ms, 0}, {10, 3 * ms, 0}, {10, 9 * ms, 0}}, nil},
		{"even others: the middle two's mean, over", 0, []load{{10, ms, 0}, {10, 3 * ms, 0}, {10, 12 * ms, 0}}, []int{2}},
		// A slow host is not its own yardstick, nor is the other slow one.
		{"two slow among three fast", 0, []load{{10, ms, 0}, {10, ms, 0}, {10, ms, 0}, {10, 200 * ms, 0}, {10, 150 * ms, 0}}, []int{3, 4}},
		{"a slow half is not an outlier", 0, []load{{10, ms, 0}, {10, 200 * ms, 0}, {10, 200 * ms, 0}}, nil},
		{"others took no time", 0, []load{{10, 0, 0}, {10, 0, 0}, {10, 1, 0}}, []int{2}},
		{"none took any time", 0, []load{{10, 0, 0}, {10, 0, 0}}, nil},
		// 25% of 4 is one: the slowest relative to the others goes.
		{"limit: worst ratio first", 25, []load{{10, ms, 0}, {10, ms, 0}, {10, 50 * ms, 0}, {10, 200 * ms, 0}}, []int{3}},
		{"limit: never the last one", 100, []load{{10, 200 * ms, 0}, {10, ms, 0}}, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := latencyConfig()
			if tc.pct != 0 {
				cfg.MaxEjectionPercent = tc.pct
			}
			f := newFixture(t, cfg, len(tc.hosts))
			for i, l := range tc.hosts {
				f.recordLat(f.hosts[i], l.o, l.n, l.lat)
			}
			changed := f.d.Sweep()
			var got []int
			for i, h := range f.hosts {
				if h.Ejected() {
					got = append(got, i)
					if h.Reason() != Latency || h.EjectionsTotal(Latency) != 1 {
						t.Errorf("host %d: reason %q, latency total %d", i, h.Reason(), h.EjectionsTotal(Latency))
					}
				}
				if h.latCount.Load() != 0 || h.latSum.Load() != 0 {
					t.Errorf("host %d: latency window not reset by Sweep", i)
				}
			}
			if !slices.Equal(got, tc.want) || changed != (len(tc.want) > 0) {
				t.Fatalf("ejected %v (changed %v), want %v", got, changed, tc.want)
			}
		})
	}
}

func TestLatencyLogLine(t *testing.T) {
	f := newFixture(t, latencyConfig(), 4)
	for _, h := range f.hosts[:3] {
		f.recordLat(h, Success, 20, time.Millisecond)
	}
	f.recordLat(f.hosts[3], Success, 10, 100*time.Millisecond)
	f.recordLat(f.hosts[3], Success, 10, 200*time.Millisecond)
	f.d.Sweep()
	lines := f.logs.lines(t, "outlier ejected endpoint")
	if len(lines) != 1 {
		t.Fatalf("%d ejection lines, want 1", len(lines))
	}
	for k, v := range map[string]any{
		"endpoint": "10.0.0.3:80", "reason": "latency", "mean_ms": 150.0, "median_ms": 1.0,
		"factor": 5.0, "requests": 20.0, "ejections": 1.0, "upstream": "api",
		"until": t0.Add(30 * time.Second).Format(time.RFC3339),
	} {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, lines[0][k], v, lines[0])
		}
	}
}

// Only answers are timed: local failures (their time is a timeout's or a
// connect error's), ignored outcomes and unmeasured attempts (tunnels) add
// neither time nor volume.
func TestLatencyCountsOnlyMeasuredAnswers(t *testing.T) {
	f := newFixture(t, latencyConfig(), 3)
	fast1, fast2, h := f.hosts[0], f.hosts[1], f.hosts[2]
	f.recordLat(fast1, Success, 10, time.Millisecond)
	f.recordLat(fast2, Success, 10, time.Millisecond)
	f.recordLat(h, Success, 9, time.Millisecond)
	f.recordLat(h, LocalFailure, 50, time.Hour)
	f.recordLat(h, Ignored, 50, time.Hour)
	f.recordLat(h, Success, 50, Unmeasured)
	f.recordLat(h, Upstream5xx, 50, -time.Hour)
	if n, sum := h.latCount.Load(), h.latSum.Load(); n != 9 || sum != uint64(9*time.Millisecond) {
		t.Fatalf("window %d answers, %v; want 9, 9ms", n, time.Duration(sum))
	}
	f.recordLat(h, Success, 1, time.Millisecond)
	if f.d.Sweep() || h.Ejected() {
		t.Fatal("ejected on time that is not the endpoint's")
	}
}

func TestLatencyWindowResetsEachSweep(t *testing.T) {
	f := newFixture(t, latencyConfig(), 3)
	interval := func(slow int) bool {
		f.recordLat(f.hosts[0], Success, 10, time.Millisecond)
		f.recordLat(f.hosts[1], Success, 10, time.Millisecond)
		f.recordLat(f.hosts[2], Success, slow, time.Second)
		f.clock.Advance(10 * time.Second)
		return f.d.Sweep()
	}
	// 6 + 6 slow answers: enough together, but never in one interval.
	first := interval(6)
	second := interval(6)
	if first || second || f.hosts[2].Ejected() {
		t.Fatal("the previous interval's answers were counted again")
	}
	if !interval(10) || !f.hosts[2].Ejected() {
		t.Fatal("not ejected with 10 slow answers in one interval")
	}
}

func TestLatencyOff(t *testing.T) {
	for _, factor := range []float64{0, 1, 0.5, -3, math.NaN()} {
		cfg := latencyConfig()
		cfg.LatencyFactor = factor
		f := newFixture(t, cfg, 3)
		f.recordLat(f.hosts[0], Success, 20, time.Millisecond)
		f.recordLat(f.hosts[1], Success, 20, time.Millisecond)
		f.recordLat(f.hosts[2], Upstream5xx, 20, time.Minute)
		for i, h := range f.hosts {
			if h.latCount.Load() != 0 || h.latSum.Load() != 0 {
				t.Errorf("factor %v: host %d counted latency", factor, i)
			}
		}
		if f.d.Sweep() || f.ejectedCount() != 0 {
			t.Errorf("factor %v: ejected", factor)
		}
	}
}

// A host ejected for latency comes back like any other: at its time, with
// fresh windows, and a repeat offender stays out twice as long.
func TestLatencyEjectionReturns(t *testing.T) {
	f := newFixture(t, latencyConfig(), 3)
	slow := f.hosts[2]
	interval := func() bool {
		f.recordLat(f.hosts[0], Success, 10, time.Millisecond)
		f.recordLat(f.hosts[1], Success, 10, time.Millisecond)
		f.recordLat(slow, Success, 10, 300*time.Millisecond)
		return f.d.Sweep()
	}
	if !interval() || !slow.Ejected() || !slow.EjectedUntil().Equal(t0.Add(30*time.Second)) {
		t.Fatalf("first ejection: ejected %v until %v", slow.Ejected(), slow.EjectedUntil())
	}
	// Answers that finish while it is out (in flight at the ejection) are
	// dropped when it returns, not judged with its first interval back.
	f.recordLat(slow, Success, 10, time.Minute)
	f.clock.Advance(30 * time.Second)
	if !f.d.Sweep() || slow.Ejected() || slow.Reason() != Latency {
		t.Fatalf("not back after base_ejection_time: ejected %v reason %q", slow.Ejected(), slow.Reason())
	}
	if slow.latCount.Load() != 0 {
		t.Fatal("returned with the old window")
	}
	if back := f.logs.lines(t, "outlier endpoint returned"); len(back) != 1 || back[0]["endpoint"] != slow.Address() {
		t.Fatalf("return lines: %v", back)
	}
	f.clock.Advance(10 * time.Second)
	if !interval() || !slow.Ejected() || slow.Ejections() != 2 || slow.EjectionsTotal(Latency) != 2 {
		t.Fatalf("second ejection: ejected %v ejections %d", slow.Ejected(), slow.Ejections())
	}
	if want := t0.Add(100 * time.Second); !slow.EjectedUntil().Equal(want) {
		t.Errorf("second ejection until %v, want %v (2 × base)", slow.EjectedUntil(), want)
	}
}

// When the limit has room for one, a failing host goes before a slow one.
func TestFailurePercentageBeforeLatency(t *testing.T) {
	cfg := latencyConfig()
	cfg.FailurePercentage = 50
	f := newFixture(t, cfg, 3) // 50% of 3: one at a time
	fast, failing, slow := f.hosts[0], f.hosts[1], f.hosts[2]
	f.recordLat(fast, Success, 10, time.Millisecond)
	f.recordLat(failing, Upstream5xx, 10, time.Millisecond)
	f.recordLat(slow, Success, 10, time.Second)
	if !f.d.Sweep() || !failing.Ejected() || failing.Reason() != FailurePercentage || slow.Ejected() {
		t.Fatalf("failing %v (%q), slow %v; want only the failing one", failing.Ejected(), failing.Reason(), slow.Ejected())
	}
	if got := f.logs.lines(t, "outlier ejection refused"); len(got) != 1 || got[0]["reason"] != "latency" {
		t.Errorf("refusal lines: %v", got)
	}
}

// Hosts that were ejected during the interval are neither judged nor part
// of the others' median, and a host that joins the set starts from zero.
func TestLatencyOnlyHostsInRotation(t *testing.T) {
	cfg := latencyConfig()
	cfg.Consecutive5xx, cfg.MaxEjectionPercent = 1, 100
	f := newFixture(t, cfg, 4)
	f.record(f.hosts[0], Upstream5xx, 1) // ejected: out of rotation
	// Its fast answers while out (in flight at the ejection) would pull the
	// others' median down to 1ms and make hosts 2 and 3 look slow.
	f.recordLat(f.hosts[0], Success, 10, time.Millisecond)
	f.recordLat(f.hosts[1], Success, 10, time.Millisecond)
	f.recordLat(f.hosts[2], Success, 10, 100*time.Millisecond)
	f.recordLat(f.hosts[3], Success, 10, 100*time.Millisecond)
	if f.d.Sweep() || f.ejectedCount() != 1 {
		t.Fatalf("%d ejected, want only the 5xx one", f.ejectedCount())
	}

	newcomer := new(Host)
	newcomer.Init("10.0.0.9:80")
	f.d.SetHosts(f.hosts[1:3])
	f.recordLat(newcomer, Success, 10, time.Hour) // counted before it joined
	f.d.SetHosts(append(f.hosts[1:3:3], newcomer))
	if newcomer.latCount.Load() != 0 || newcomer.latSum.Load() != 0 {
		t.Fatal("a joining host kept its old window")
	}
}

func TestMedianWithout(t *testing.T) {
	mk := func(means ...uint64) []latSample {
		s := make([]latSample, len(means))
		for i, m := range means {
			s[i] = latSample{answered: 2, sum: 2 * m}
		}
		return s
	}
	for _, tc := range []struct {
		means []uint64 // sorted
		i     int
		want  float64
	}{
		{[]uint64{1, 9}, 0, 9},
		{[]uint64{1, 9}, 1, 1},
		{[]uint64{1, 3, 9}, 0, 6},
		{[]uint64{1, 3, 9}, 1, 5},
		{[]uint64{1, 3, 9}, 2, 2},
		{[]uint64{1, 2, 3, 100}, 3, 2},
		{[]uint64{1, 2, 3, 100}, 0, 3},
		{[]uint64{1, 2, 3, 4, 100}, 4, 2.5},
		{[]uint64{1, 2, 3, 4, 100}, 1, 3.5},
	} {
		if got := medianWithout(mk(tc.means...), tc.i); got != tc.want {
			t.Errorf("medianWithout(%v, %d) = %v, want %v", tc.means, tc.i, got, tc.want)
		}
	}
}
