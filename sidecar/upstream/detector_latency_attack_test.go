package upstream

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// HeadArrived is what the latency rule times: from Begin to the answer's
// head, less the time the front end waited for its client; what happens
// after the head (a client reading slowly) is not the endpoint's. A
// client wait longer than the attempt (reads overlapping the wait for the
// head) counts as 0, never as a negative time.
func TestHeadArrivedTimesTheEndpointOnly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		toHead      time.Duration // Begin to HeadArrived
		clientWait  time.Duration
		afterHead   time.Duration // HeadArrived to End: the client reading
		wantEjected bool
	}{
		{name: "slow reader", toHead: time.Millisecond, afterHead: 10 * time.Second},
		{name: "slow upload", toHead: 10 * time.Second, clientWait: 10*time.Second - time.Millisecond},
		{name: "wait beyond the attempt", toHead: time.Millisecond, clientWait: time.Hour},
		{name: "slow endpoint", toHead: 10 * time.Second, wantEjected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, clock := latencyUpstream(t, 3)
			for range 30 { // round robin: 10 each
				a, ref := u.Begin(nil, "", nil)
				if ref != nil {
					t.Fatal(ref.Detail)
				}
				if a.Endpoint().Address != "c:3" {
					clock.Advance(time.Millisecond)
					a.HeadArrived(0)
					a.End(Answer(200))
					continue
				}
				clock.Advance(tc.toHead)
				a.HeadArrived(tc.clientWait)
				clock.Advance(tc.afterHead)
				a.End(Answer(200))
			}
			u.Sweep()
			for _, m := range u.Snapshot().Members {
				want := tc.wantEjected && m.Endpoint.Address == "c:3"
				if got := m.Endpoint.Outlier.Ejected(); got != want {
					t.Errorf("%s: ejected %v, want %v", m.Endpoint.Address, got, want)
				}
			}
		})
	}
}

// With latency_factor off, HeadArrived reads no clock: the request path
// pays nothing for the rule it does not use.
func TestHeadArrivedOffReadsNoClock(t *testing.T) {
	var reads atomic.Int64
	now := func() time.Time { reads.Add(1); return time.Unix(1700000000, 0) }
	u, err := New(config.DefaultUpstream(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	u.Update(instances("a:1"))
	if u.TimesLatency() {
		t.Fatal("latency_factor 0 times latency")
	}
	a, ref := u.Begin(nil, "", nil)
	if ref != nil {
		t.Fatal(ref.Detail)
	}
	before := reads.Load()
	a.HeadArrived(time.Second)
	if n := reads.Load() - before; n != 0 {
		t.Fatalf("HeadArrived read the clock %d times with the rule off", n)
	}
	a.End(Answer(200))
}
