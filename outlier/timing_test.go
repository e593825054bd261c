package outlier

import (
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func TestEjectionTimeGrowsAndIsCapped(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	cfg.BaseEjectionTime, cfg.MaxEjectionTime = 10*time.Second, 35*time.Second
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	for i, want := range []time.Duration{10, 20, 30, 35, 35, 35} {
		want *= time.Second
		start := f.clock.Now()
		f.eject5xx(t, h)
		if h.Ejections() != i+1 {
			t.Fatalf("ejection %d: Ejections() = %d", i+1, h.Ejections())
		}
		if got := h.EjectedUntil().Sub(start); got != want {
			t.Fatalf("ejection %d lasts %v, want %v", i+1, got, want)
		}
		// Back exactly when due and at once failing again: no decay.
		f.clock.Advance(want)
		if !f.d.Sweep() || h.Ejected() {
			t.Fatalf("ejection %d: not returned at EjectedUntil", i+1)
		}
	}
}

func TestEjectionTimeDoesNotOverflow(t *testing.T) {
	d := NewDetector(withEjectionTimes(time.Nanosecond, 1<<62), Options{})
	if got := d.ejectionTime(1 << 62); got != 1<<62 {
		t.Fatalf("ejectionTime = %v", got)
	}
	if got := d.ejectionTime(3); got != 3 {
		t.Fatalf("ejectionTime(3) = %v", got)
	}
	// Out-of-range config: no base becomes 30s, a max below it the base.
	d = NewDetector(withEjectionTimes(0, time.Second), Options{})
	if got := d.ejectionTime(4); got != 30*time.Second {
		t.Fatalf("ejectionTime with base 0 = %v, want 30s", got)
	}
}

func withEjectionTimes(base, maxTime time.Duration) config.Outlier {
	c := testConfig()
	c.BaseEjectionTime, c.MaxEjectionTime = base, maxTime
	return c
}

func TestReturnAtExactlyEjectedUntil(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	f.eject5xx(t, h)
	until := h.EjectedUntil()
	f.clock.Advance(until.Sub(t0) - time.Nanosecond)
	if f.d.Sweep() || !h.Ejected() {
		t.Fatal("returned 1ns before EjectedUntil")
	}
	f.clock.Advance(time.Nanosecond)
	if !f.d.Sweep() {
		t.Fatal("Sweep at EjectedUntil reported no change")
	}
	if h.Ejected() || !h.EjectedUntil().IsZero() {
		t.Fatalf("after return: ejected %v until %v", h.Ejected(), h.EjectedUntil())
	}
	if h.Reason() != Consecutive5xx || h.Ejections() != 1 {
		t.Errorf("after return: reason %q ejections %d; want the last reason and count kept", h.Reason(), h.Ejections())
	}
	if f.d.Sweep() {
		t.Error("a second Sweep reported a change")
	}
}

func TestDecayAfterHealthyBaseEjectionTime(t *testing.T) {
	const base = 30 * time.Second
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]

	// Ejected twice in a row: count 2, the second ejection lasting 2×base.
	f.eject5xx(t, h)
	f.clock.Advance(base)
	f.d.Sweep()
	f.eject5xx(t, h)
	f.clock.Advance(2 * base)
	f.d.Sweep()
	if h.Ejected() || h.Ejections() != 2 {
		t.Fatalf("setup: ejected %v ejections %d", h.Ejected(), h.Ejections())
	}

	// Healthy for base less 1ns: no decay yet; at base: one step.
	f.clock.Advance(base - time.Nanosecond)
	f.d.Sweep()
	if h.Ejections() != 2 {
		t.Fatalf("decayed early: %d", h.Ejections())
	}
	f.clock.Advance(time.Nanosecond)
	if f.d.Sweep() {
		t.Error("a decay reported an ejection change")
	}
	if h.Ejections() != 1 {
		t.Fatalf("after base healthy: %d, want 1", h.Ejections())
	}
	// The next step is base after the last decay, not after the return.
	f.clock.Advance(base - time.Nanosecond)
	f.d.Sweep()
	if h.Ejections() != 1 {
		t.Fatalf("decayed early the second time: %d", h.Ejections())
	}
	f.clock.Advance(time.Nanosecond)
	f.d.Sweep()
	if h.Ejections() != 0 {
		t.Fatalf("after 2×base healthy: %d, want 0", h.Ejections())
	}
	f.clock.Advance(10 * base)
	f.d.Sweep()
	if h.Ejections() != 0 {
		t.Fatalf("decayed below zero: %d", h.Ejections())
	}
	// Forgiven: the next ejection is a first one again.
	start := f.clock.Now()
	f.eject5xx(t, h)
	if h.Ejections() != 1 || h.EjectedUntil().Sub(start) != base {
		t.Fatalf("after decay: ejections %d for %v", h.Ejections(), h.EjectedUntil().Sub(start))
	}
}

func TestNoDecayWhileEjectedOrFailingAgain(t *testing.T) {
	const base = 30 * time.Second
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	f := newFixture(t, cfg, 2)
	h := f.hosts[0]
	f.eject5xx(t, h)
	// Ejected for base; Sweeps during the ejection do not decay the count.
	for range 3 {
		f.clock.Advance(base / 3)
		f.d.Sweep()
	}
	if h.Ejected() || h.Ejections() != 1 {
		t.Fatalf("ejected %v ejections %d", h.Ejected(), h.Ejections())
	}
	// Failing again before base is up: ejected for 2×base.
	f.clock.Advance(base - time.Second)
	f.d.Sweep()
	start := f.clock.Now()
	f.eject5xx(t, h)
	if h.Ejections() != 2 || h.EjectedUntil().Sub(start) != 2*base {
		t.Fatalf("ejections %d for %v, want 2 for %v", h.Ejections(), h.EjectedUntil().Sub(start), 2*base)
	}
}
