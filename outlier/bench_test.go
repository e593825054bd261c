package outlier

import (
	"testing"
	"time"
)

// benchFixture never ejects: thresholds out of reach, every rule counting
// but latency_factor, which is latF (0 = off).
func benchFixture(tb testing.TB, latF float64) (*Detector, *Host) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 1<<30, 1<<30
	cfg.FailurePercentage = 50
	cfg.LatencyFactor = latF
	d := NewDetector(cfg, Options{})
	hosts := []*Host{new(Host), new(Host)}
	hosts[0].Init("10.0.0.1:80")
	hosts[1].Init("10.0.0.2:80")
	d.SetHosts(hosts)
	return d, hosts[0]
}

func TestRecordDoesNotAllocate(t *testing.T) {
	for _, latF := range []float64{0, 3} {
		d, h := benchFixture(t, latF)
		for _, o := range []Outcome{Success, Upstream5xx, LocalFailure, Ignored} {
			if n := testing.AllocsPerRun(1000, func() { d.Record(h, o, time.Millisecond) }); n != 0 {
				t.Errorf("latency_factor %v: Record(%v): %v allocs/op, want 0", latF, o, n)
			}
		}
	}
	// Nor does a disabled detector.
	cfg := testConfig()
	cfg.Enabled = false
	off := NewDetector(cfg, Options{})
	h := new(Host)
	if n := testing.AllocsPerRun(1000, func() { off.Record(h, Upstream5xx, time.Millisecond) }); n != 0 {
		t.Errorf("disabled Record: %v allocs/op, want 0", n)
	}
}

// BenchmarkRecord: go test -run '^$' -bench Record -benchmem ./outlier/
// The plain cases have latency_factor 0, the latency/ ones 3.
func BenchmarkRecord(b *testing.B) {
	outcomes := [...]Outcome{Success, Success, Success, Upstream5xx, Success, LocalFailure, Success, Ignored}
	for _, bc := range []struct {
		prefix string
		latF   float64
	}{{"", 0}, {"latency/", 3}} {
		b.Run(bc.prefix+"serial", func(b *testing.B) {
			d, h := benchFixture(b, bc.latF)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.Record(h, outcomes[i%len(outcomes)], time.Millisecond)
				i++
			}
		})
		b.Run(bc.prefix+"success", func(b *testing.B) {
			d, h := benchFixture(b, bc.latF)
			b.ReportAllocs()
			for b.Loop() {
				d.Record(h, Success, time.Millisecond)
			}
		})
		b.Run(bc.prefix+"parallel", func(b *testing.B) {
			d, h := benchFixture(b, bc.latF)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d.Record(h, outcomes[i%len(outcomes)], time.Millisecond)
					i++
				}
			})
		})
	}
}
