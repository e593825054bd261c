// Package ratelimit is the token bucket of `rate_limit` (docs/rate-limits.md):
// an upstream's, checked for every request that reaches it (its own
// listener and routing listeners' routes) or every new connection of a tcp
// upstream, and the inbound listener's. The bucket is golang.org/x/time/rate's;
// this package adds the injected clock, the off state, and Retry-After.
package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// maxRetryAfter bounds the wait a refusal reports, so that a tiny
// requests_per_second (config accepts any positive rate) cannot overflow
// a time.Duration. It is far beyond any wait a client would honour.
const maxRetryAfter = math.MaxInt32 * time.Second

// Limiter is one token bucket. A nil *Limiter is the limit turned off: it
// allows everything, so the request path of an unlimited listener pays one
// nil check and takes no lock. Allow may be called from any goroutine and
// never blocks beyond rate.Limiter's short critical section.
type Limiter struct {
	lim *rate.Limiter
	now func() time.Time
	rps float64
}

// New returns the bucket of cfg, full, reading time from now (time.Now when
// nil); nil when cfg is off (requests_per_second 0). A burst of 0 is
// ceil(requests_per_second), as config's defaults make it, so a config
// built without them still gets a working bucket rather than one that
// refuses everything.
func New(cfg config.RateLimit, now func() time.Time) *Limiter {
	if !cfg.Enabled() {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = int(math.Ceil(cfg.RequestsPerSecond))
	}
	return &Limiter{lim: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), burst), now: now, rps: cfg.RequestsPerSecond}
}

// Allow takes one token if there is one. When there is none, ok is false
// and retryAfter is how long until there will be one, rounded up to whole
// seconds and at least one second (Retry-After's unit; a client told "0"
// would come straight back).
//
// A refusal takes nothing and reserves nothing: AllowN leaves the bucket
// untouched when it says no, and the wait is read from TokensAt, which
// does not change it either. A reservation (ReserveN, then Cancel) would
// hand the refused client a claim on a future token, which it may never
// use, at the expense of the requests that do come.
func (l *Limiter) Allow() (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	return l.AllowAt(l.now())
}

// AllowAt is Allow at t, a time the caller has just read from the same
// clock New was given: the HTTP request path reads the clock once for the
// bucket and the request's duration (a clock read costs as much as the
// bucket itself).
func (l *Limiter) AllowAt(t time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	if l.lim.AllowN(t, 1) {
		return true, 0
	}
	return false, l.wait(l.lim.TokensAt(t))
}

// wait is the time until tokens (fewer than one) grow to one, as Retry-After.
func (l *Limiter) wait(tokens float64) time.Duration {
	secs := (1 - tokens) / l.rps
	if secs >= maxRetryAfter.Seconds() || math.IsNaN(secs) {
		return maxRetryAfter
	}
	// Truncated to nanoseconds first, as rate.Limiter does, so float noise
	// of a few ulps does not round a whole second up to the next.
	d := time.Duration(secs * float64(time.Second))
	d = (d + time.Second - 1) / time.Second * time.Second
	return max(d, time.Second)
}
