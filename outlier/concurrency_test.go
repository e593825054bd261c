package outlier

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentRecord runs Record from many goroutines against Sweeps and
// discovery updates, then checks that the state adds up. Run with -race.
func TestConcurrentRecord(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 3, 3
	cfg.FailurePercentage, cfg.FailurePercentageMinRequests = 60, 20
	cfg.LatencyFactor = 3
	cfg.BaseEjectionTime, cfg.MaxEjectionTime = time.Second, 5*time.Second
	cfg.MaxEjectionPercent = 30
	f := newFixture(t, cfg, 10)

	const workers, perWorker = 16, 2000
	var changes atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				h := f.hosts[(w+i)%len(f.hosts)]
				// Hosts 0-3 mostly fail; the others mostly succeed.
				o := Success
				switch {
				case h == f.hosts[0] || h == f.hosts[1]:
					o = Upstream5xx
				case h == f.hosts[2] || h == f.hosts[3]:
					o = []Outcome{LocalFailure, LocalFailure, Success, Ignored}[i%4]
				case i%7 == 0:
					o = Upstream5xx
				}
				// Host 4 answers, but slowly: the latency rule races the
				// others for the limit (whether it wins is up to the scheduler).
				lat := time.Millisecond
				if h == f.hosts[4] {
					lat = 50 * time.Millisecond
				}
				if f.d.Record(h, o, lat) {
					changes.Add(1)
				}
			}
		})
	}
	stop := make(chan struct{})
	var background sync.WaitGroup
	background.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			f.clock.Advance(300 * time.Millisecond)
			f.d.Sweep()
		}
	})
	background.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				f.d.SetHosts(f.hosts[:9])
			} else {
				f.d.SetHosts(f.hosts)
			}
		}
	})
	wg.Wait()
	close(stop)
	background.Wait()
	f.d.SetHosts(f.hosts)

	var total uint64
	for _, h := range f.hosts {
		for r := range NumReasons {
			total += h.EjectionsTotal(Reason(r))
		}
		if h.Ejected() == h.EjectedUntil().IsZero() {
			t.Errorf("%s: ejected %v but until %v", h.Address(), h.Ejected(), h.EjectedUntil())
		}
		if h.Ejected() && h.Reason() == ReasonNone {
			t.Errorf("%s: ejected without a reason", h.Address())
		}
	}
	ejectLines := len(f.logs.lines(t, "outlier ejected endpoint"))
	returnLines := len(f.logs.lines(t, "outlier endpoint returned"))
	if total == 0 || uint64(ejectLines) != total {
		t.Errorf("EjectionsTotal sums to %d, %d ejection lines", total, ejectLines)
	}
	if got := uint64(returnLines + f.ejectedCount()); got != total {
		t.Errorf("%d returned + %d still ejected != %d ejections", returnLines, f.ejectedCount(), total)
	}
	if limit := MaxEjected(len(f.hosts), cfg.MaxEjectionPercent); f.ejectedCount() > limit {
		t.Errorf("%d ejected, limit %d", f.ejectedCount(), limit)
	}
	if changes.Load() == 0 {
		t.Error("Record never reported a change")
	}
	// Nothing left over: once every ejection is over, everyone is back.
	// (The first Sweep judges the last window, which may eject once more.)
	f.d.Sweep()
	f.clock.Advance(cfg.MaxEjectionTime)
	f.d.Sweep()
	if f.ejectedCount() != 0 {
		t.Errorf("%d still ejected after max_ejection_time", f.ejectedCount())
	}
}

// TestConcurrentThresholdEjectsOnce: many goroutines cross the threshold of
// the same host at once; exactly one of them ejects it.
func TestConcurrentThresholdEjectsOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.MaxEjectionPercent = 10, 100
	f := newFixture(t, cfg, 10)
	var changes atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for _, h := range f.hosts {
				for range 50 {
					if f.d.Record(h, Upstream5xx, time.Millisecond) {
						changes.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	// 100% of 10 is 9: everyone fails, all but the last in rotation go.
	if f.ejectedCount() != 9 || changes.Load() != 9 {
		t.Fatalf("%d ejected, %d changes reported; want 9 and 9", f.ejectedCount(), changes.Load())
	}
	for _, h := range f.hosts {
		if h.Ejected() && (h.Ejections() != 1 || h.EjectionsTotal(Consecutive5xx) != 1) {
			t.Errorf("%s: ejections %d total %d, want 1 1", h.Address(), h.Ejections(), h.EjectionsTotal(Consecutive5xx))
		}
	}
}
