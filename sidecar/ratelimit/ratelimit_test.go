package ratelimit

import (
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// clock is a manual clock for exact bucket arithmetic.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOffIsNilAndAllowsEverything(t *testing.T) {
	for _, cfg := range []config.RateLimit{{}, {RequestsPerSecond: 0, Burst: 5}} {
		l := New(cfg, nil)
		if l != nil {
			t.Fatalf("New(%+v) = %v, want nil (off)", cfg, l)
		}
		for range 1000 {
			if ok, wait := l.Allow(); !ok || wait != 0 {
				t.Fatalf("nil limiter: Allow() = %v, %v", ok, wait)
			}
		}
	}
}

// TestSequence is rps 2, burst 3: three at once, then one every 500ms,
// and each refusal says when to come back.
func TestSequence(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{RequestsPerSecond: 2, Burst: 3}, c.now)
	type step struct {
		after time.Duration // clock advance before the call
		ok    bool
		wait  time.Duration
	}
	steps := []step{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // the burst
		{0, false, time.Second},                      // empty: 500ms to a token, rounded up
		{499 * time.Millisecond, false, time.Second}, // 0.998 tokens
		{time.Millisecond, true, 0},                  // exactly one token at 500ms
		{0, false, time.Second},
		{500 * time.Millisecond, true, 0},
		{2 * time.Second, true, 0}, // refilled to the burst (3), not 4
		{0, true, 0},
		{0, true, 0},
		{0, false, time.Second},
	}
	for i, s := range steps {
		c.advance(s.after)
		ok, wait := l.Allow()
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d (+%v): Allow() = %v, %v; want %v, %v", i, s.after, ok, wait, s.ok, s.wait)
		}
	}
}

// TestRetryAfter: the wait until one whole token, in whole seconds rounded
// up, never below one second.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rps     float64
		elapsed time.Duration // after draining the bucket
		want    time.Duration
	}{
		{"fast rate: well under a second", 100, 0, time.Second},
		{"exactly one second", 1, 0, time.Second},
		{"rps 0.5: two seconds", 0.5, 0, 2 * time.Second},
		{"rps 0.5 after 1ms: still two (rounded up)", 0.5, time.Millisecond, 2 * time.Second},
		{"rps 0.5 after 1s: one", 0.5, time.Second, time.Second},
		{"rps 0.5 after 1s+1ns: one", 0.5, time.Second + time.Nanosecond, time.Second},
		{"rps 0.25 after 1s: three", 0.25, time.Second, 3 * time.Second},
		{"rps 0.3: 3.33s rounds up to four", 0.3, 0, 4 * time.Second},
		{"rps 0.1: ten", 0.1, 0, 10 * time.Second},
		{"rps 1e-12: capped, no overflow", 1e-12, 0, maxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l := New(config.RateLimit{RequestsPerSecond: tc.rps, Burst: 1}, c.now)
			if ok, _ := l.Allow(); !ok {
				t.Fatal("the first request of a full bucket was refused")
			}
			if tc.elapsed > 0 {
				c.advance(tc.elapsed)
			}
			ok, wait := l.Allow()
			if ok || wait != tc.want {
				t.Fatalf("Allow() = %v, %v; want false, %v", ok, wait, tc.want)
			}
		})
	}
}

// TestRefusalTakesNothing: refused calls neither consume nor reserve, so
// the next token comes exactly 1/rps after the last one taken however many
// were refused meanwhile.
func TestRefusalTakesNothing(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{RequestsPerSecond: 10, Burst: 1}, c.now)
	if ok, _ := l.Allow(); !ok {
		t.Fatal("first refused")
	}
	for i := 1; i < 100; i++ {
		c.advance(time.Millisecond)
		if ok, _ := l.Allow(); ok {
			t.Fatalf("allowed at +%dms, before the 100ms refill", i)
		}
	}
	c.advance(time.Millisecond)
	if ok, _ := l.Allow(); !ok {
		t.Fatal("refused at +100ms: the refusals before took or reserved tokens")
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("a second token at +100ms")
	}
}

// AllowAt takes the caller's reading of the clock instead of its own; a
// nil limiter allows at any time.
func TestAllowAt(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{RequestsPerSecond: 1, Burst: 1}, c.now)
	if ok, _ := l.AllowAt(c.now()); !ok {
		t.Fatal("first refused")
	}
	if ok, wait := l.AllowAt(c.now().Add(400 * time.Millisecond)); ok || wait != time.Second {
		t.Fatalf("at +400ms: %v, %v; want false, 1s", ok, wait)
	}
	if ok, _ := l.AllowAt(c.now().Add(time.Second)); !ok {
		t.Fatal("at +1s (the limiter's own clock still at +0): refused")
	}
	var off *Limiter
	if ok, wait := off.AllowAt(time.Time{}); !ok || wait != 0 {
		t.Fatalf("nil limiter: %v, %v", ok, wait)
	}
}

func TestBurstDefaultsToCeilRate(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{RequestsPerSecond: 2.5}, c.now) // burst unset: 3
	for i := range 3 {
		if ok, _ := l.Allow(); !ok {
			t.Fatalf("request %d of the default burst refused", i)
		}
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("a fourth request passed a burst of ceil(2.5)")
	}
}

// TestConcurrent: under -race, many goroutines share one bucket and
// exactly burst requests pass while the clock stands still.
func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{RequestsPerSecond: 1, Burst: 50}, c.now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, _ := l.Allow(); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if passed != 50 {
		t.Fatalf("%d passed, want the burst of 50", passed)
	}
}

// BenchmarkAllow is Allow with a limit that is not reached: a clock read
// and one uncontended pass through rate.Limiter's critical section.
func BenchmarkAllow(b *testing.B) {
	l := New(config.RateLimit{RequestsPerSecond: 1e9, Burst: 1e9}, time.Now)
	b.ReportAllocs()
	for range b.N {
		if ok, _ := l.Allow(); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowAt is what the HTTP request path adds: the bucket alone,
// at a time it already read.
func BenchmarkAllowAt(b *testing.B) {
	l := New(config.RateLimit{RequestsPerSecond: 1e9, Burst: 1e9}, time.Now)
	t := time.Now()
	b.ReportAllocs()
	for i := range b.N {
		if ok, _ := l.AllowAt(t.Add(time.Duration(i))); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowOff is the off path: a nil receiver.
func BenchmarkAllowOff(b *testing.B) {
	var l *Limiter
	b.ReportAllocs()
	for range b.N {
		if ok, _ := l.Allow(); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowParallel is the same limit shared by concurrent requests.
func BenchmarkAllowParallel(b *testing.B) {
	l := New(config.RateLimit{RequestsPerSecond: 1e9, Burst: 1e9}, time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow()
		}
	})
}
