package discovery

import (
	"context"
	"time"
)

// Pacing is the timing of a Consul blocking-query watch, shared by the
// discovery watch and the mesh's (sidecar/connect): waits jittered so
// that sidecars started together spread out, errors backed off with a cap
// and jitter, a minimum interval between queries, and a client-side bound
// on each query. Time and randomness are injected for exact tests.
type Pacing struct {
	WaitTime    time.Duration // the blocking wait (consul.wait_time)
	BackoffBase time.Duration // the first error's backoff
	BackoffCap  time.Duration
	MinInterval time.Duration // between two queries, so a churning index cannot make a busy loop

	Sleep func(ctx context.Context, d time.Duration) bool // false when ctx ended first
	Rand  func(n int64) int64                             // in [0, n)
	Now   func() time.Time
}

// QueryGrace is how much longer than its wait (and Consul's own jitter of
// wait/16) a blocking query may take before the watch gives it up: an
// agent that hangs (stopped, or a connection gone without a FIN) must not
// stall a watch for good.
const QueryGrace = 10 * time.Second

// JitteredWait spreads the blocking waits over the last 1/16 of WaitTime
// (Consul adds its own jitter on top).
func (p *Pacing) JitteredWait() time.Duration {
	w := p.WaitTime
	if j := int64(w / 16); j > 0 {
		w -= time.Duration(p.Rand(j))
	}
	return w
}

// QueryContext bounds one query that waits for wait.
func QueryContext(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, wait+wait/16+QueryGrace)
}

// Backoff is capped exponential with jitter: failure n waits a random time
// in [d/2, d] where d = BackoffBase·2^(n-1), d ≤ BackoffCap.
func (p *Pacing) Backoff(n int) time.Duration {
	d := p.BackoffCap
	if n < 16 {
		d = min(p.BackoffBase<<(n-1), p.BackoffCap)
	}
	return d/2 + time.Duration(p.Rand(int64(d/2)+1))
}

// Pace waits out the rest of MinInterval since started; false when ctx
// ended.
func (p *Pacing) Pace(ctx context.Context, started time.Time) bool {
	if rest := p.MinInterval - p.Now().Sub(started); rest > 0 {
		return p.Sleep(ctx, rest)
	}
	return ctx.Err() == nil
}

// SleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func SleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
