package outlier

import (
	"testing"
)

// benchFixture never ejects: thresholds out of reach, every rule counting.
func benchFixture(tb testing.TB) (*Detector, *Host) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 1<<30, 1<<30
	cfg.FailurePercentage = 50
	d := NewDetector(cfg, Options{})
	hosts := []*Host{new(Host), new(Host)}
	hosts[0].Init("10.0.0.1:80")
	hosts[1].Init("10.0.0.2:80")
	d.SetHosts(hosts)
	return d, hosts[0]
}

func TestRecordDoesNotAllocate(t *testing.T) {
	d, h := benchFixture(t)
	for _, o := range []Outcome{Success, Upstream5xx, LocalFailure, Ignored} {
		if n := testing.AllocsPerRun(1000, func() { d.Record(h, o) }); n != 0 {
			t.Errorf("Record(%v): %v allocs/op, want 0", o, n)
		}
	}
	// Nor does a disabled detector.
	cfg := testConfig()
	cfg.Enabled = false
	off := NewDetector(cfg, Options{})
	if n := testing.AllocsPerRun(1000, func() { off.Record(h, Upstream5xx) }); n != 0 {
		t.Errorf("disabled Record: %v allocs/op, want 0", n)
	}
}

// BenchmarkRecord: go test -run '^$' -bench Record -benchmem ./outlier/
func BenchmarkRecord(b *testing.B) {
	outcomes := [...]Outcome{Success, Success, Success, Upstream5xx, Success, LocalFailure, Success, Ignored}
	b.Run("serial", func(b *testing.B) {
		d, h := benchFixture(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.Record(h, outcomes[i%len(outcomes)])
			i++
		}
	})
	b.Run("success", func(b *testing.B) {
		d, h := benchFixture(b)
		b.ReportAllocs()
		for b.Loop() {
			d.Record(h, Success)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		d, h := benchFixture(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				d.Record(h, outcomes[i%len(outcomes)])
				i++
			}
		})
	})
}
