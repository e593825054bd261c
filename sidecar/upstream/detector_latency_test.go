package upstream

import (
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// stepClock is a manual clock for Options.Now.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The latency rule hears each answer's time from Begin to End; a settled
// attempt (a tunnel, a TCP connection), which lives as long as its
// conversation, is not a measure of the endpoint's speed and counts no time.
func TestDetectorHearsAttemptLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		settle  bool
		outcome Outcome
		want    bool // the slow endpoint is ejected for latency
	}{
		{"answers", false, Answer(200), true},
		{"5xx answers", false, Answer(503), true},
		{"settled tunnels", true, Answer(101), false},
		{"local failures", false, Failed(TimedOut), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, clock := latencyUpstream(t, 5)
			for range 30 { // round robin: 10 each
				a, ref := u.Begin(nil, "", nil)
				if ref != nil {
					t.Fatal(ref.Detail)
				}
				if a.Endpoint().Address == "c:3" {
					if tc.settle {
						a.Settle()
					}
					clock.Advance(200 * time.Millisecond)
					a.End(tc.outcome)
				} else {
					clock.Advance(time.Millisecond)
					a.End(Answer(200))
				}
			}
			u.Sweep()
			for _, m := range u.Snapshot().Members {
				ejected := m.Endpoint.Outlier.Ejected()
				if want := tc.want && m.Endpoint.Address == "c:3"; ejected != want {
					t.Errorf("%s: ejected %v, want %v", m.Endpoint.Address, ejected, want)
				}
				if ejected && m.Endpoint.Outlier.Reason() != outlier.Latency {
					t.Errorf("%s: reason %q, want latency", m.Endpoint.Address, m.Endpoint.Outlier.Reason())
				}
			}
		})
	}
}

// latencyUpstream is a round-robin upstream of a:1, b:2 and c:3 on a step
// clock whose only outlier rule is latency_factor factor (10 answers
// each to be judged).
func latencyUpstream(t *testing.T, factor float64) (*Upstream, *stepClock) {
	t.Helper()
	clock := &stepClock{t: time.Unix(1700000000, 0)}
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.LB = "payments", "round_robin"
	cfg.Outlier.Consecutive5xx, cfg.Outlier.ConsecutiveLocalFailure = 0, 0
	cfg.Outlier.FailurePercentageMinRequests, cfg.Outlier.LatencyFactor = 10, factor
	u, err := New(cfg, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	u.Update(instances("a:1", "b:2", "c:3"))
	return u, clock
}
