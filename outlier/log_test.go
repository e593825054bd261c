package outlier

import (
	"testing"
	"time"
)

func TestLogLines(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 5, 4
	cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 50, 8
	f := newFixture(t, cfg, 10)

	f.record(f.hosts[0], Upstream5xx, 5)
	f.record(f.hosts[1], LocalFailure, 4)
	f.record(f.hosts[2], Success, 3)
	f.record(f.hosts[2], Upstream5xx, 4)
	f.record(f.hosts[2], LocalFailure, 1) // 5 of 8: 62.5%
	f.d.Sweep()

	lines := f.logs.lines(t, "outlier ejected endpoint")
	if len(lines) != 3 {
		t.Fatalf("%d ejection lines, want 3", len(lines))
	}
	until := t0.Add(30 * time.Second).Format(time.RFC3339)
	for i, want := range []map[string]any{
		{"endpoint": "10.0.0.0:80", "reason": "consecutive_5xx", "consecutive_5xx": 5.0},
		{"endpoint": "10.0.0.1:80", "reason": "consecutive_local_failure", "consecutive_local_failure": 4.0},
		{"endpoint": "10.0.0.2:80", "reason": "failure_percentage", "failure_percentage": 62.5, "requests": 8.0},
	} {
		want["level"], want["upstream"], want["ejections"], want["until"] = "INFO", "api", 1.0, until
		want["time"] = t0.Format(time.RFC3339Nano) // the detector's clock, not the wall clock
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
	}

	f.clock.Advance(45 * time.Second)
	f.d.Sweep()
	back := f.logs.lines(t, "outlier endpoint returned")
	if len(back) != 3 {
		t.Fatalf("%d return lines, want 3", len(back))
	}
	for _, l := range back {
		// slog's JSON handler writes durations as nanoseconds.
		if l["level"] != "INFO" || l["upstream"] != "api" || l["ejections"] != 1.0 || l["ejected_for"] != float64(45*time.Second) {
			t.Errorf("return line: %v", l)
		}
		if _, ok := l["cause"]; ok {
			t.Errorf("a return on time has a cause: %v", l)
		}
	}
}

func TestNoLogsPerRequest(t *testing.T) {
	cfg := testConfig()
	cfg.FailurePercentage = 50
	f := newFixture(t, cfg, 3)
	for range 100 {
		for _, h := range f.hosts {
			for _, o := range []Outcome{Upstream5xx, LocalFailure, Ignored, Success, Success, Success} {
				f.d.Record(h, o, time.Millisecond)
			}
		}
	}
	f.d.Sweep() // 40% failures: under 50%
	f.logs.mu.Lock()
	defer f.logs.mu.Unlock()
	if f.logs.buf.Len() != 0 {
		t.Errorf("logged without an ejection:\n%s", f.logs.buf.String())
	}
}

func TestNilOptions(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	d := NewDetector(cfg, Options{}) // time.Now, discarded logs
	hosts := []*Host{new(Host), new(Host)}
	d.SetHosts(hosts)
	before := time.Now()
	if !d.Record(hosts[0], Upstream5xx, time.Millisecond) {
		t.Fatal("not ejected")
	}
	if u := hosts[0].EjectedUntil(); u.Before(before.Add(30*time.Second)) || u.After(time.Now().Add(30*time.Second)) {
		t.Errorf("EjectedUntil %v is not 30s after the real clock", u)
	}
	if hosts[0].Address() != "" {
		t.Errorf("Address() before Init = %q", hosts[0].Address())
	}
}
