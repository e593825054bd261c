// Package breaker is an upstream's circuit breaker: sony/gobreaker's
// two-step breaker (the outcome of a proxied request is known only when its
// body is done) configured from `circuit_breaker`, with log lines on every
// transition.
//
// Division of work with outlier detection: the detector judges endpoints
// one by one and takes a bad one out of rotation while its peers carry on;
// the breaker judges the whole upstream and, when most requests fail no
// matter which endpoint serves them, fails fast with a local 503
// circuit_open instead of piling more load on a dependency that is down.
package breaker

import (
	"errors"
	"log/slog"

	"github.com/sony/gobreaker/v2"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// The outcomes a done func takes: nil for success.
var (
	// ErrFailure counts against the upstream: 5xx, connect failure, reset, timeout.
	ErrFailure = errors.New("upstream failure")
	// ErrExcluded counts for nothing: the client went away, or its request failed on its side.
	ErrExcluded = errors.New("excluded")
)

// State is the breaker's state. Its value is what
// outrigger_circuit_breaker_state reports (0 closed, 1 half-open, 2 open)
// and String is the name /upstreams shows (docs/contract.md).
type State uint8

const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

var stateNames = [...]string{Closed: "closed", HalfOpen: "half_open", Open: "open"}

// String is the state's name in the admin API and logs.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Breaker guards one upstream. Allow is called from request goroutines;
// gobreaker serialises its bookkeeping with a short mutex (the one lock on
// the request path, held for a few counter updates).
type Breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// New builds the breaker for upstream name.
func New(name string, cfg config.CircuitBreaker, log *slog.Logger) *Breaker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minRequests, ratio := uint32(cfg.MinRequests), cfg.FailureRatio
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: uint32(cfg.HalfOpenRequests),
		Interval:    cfg.Interval,
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// gobreaker's Requests includes the excluded ones (clients that
			// went away): left in, they would dilute the failure ratio, so a
			// client could keep an upstream's breaker shut by hanging up.
			n := c.Requests - min(c.TotalExclusions, c.Requests)
			return n >= minRequests && float64(c.TotalFailures) >= ratio*float64(n)
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, ErrExcluded) },
	}
	st.OnStateChange = func(name string, from, to gobreaker.State) {
		log.Warn("circuit breaker state changed", "upstream", name, "from", stateOf(from).String(), "to", stateOf(to).String(),
			"failure_ratio", ratio, "min_requests", minRequests, "open_timeout", cfg.OpenTimeout.String(),
			"half_open_requests", cfg.HalfOpenRequests)
	}
	return &Breaker{cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

// Allow admits one attempt. When ok, done must be called exactly once with
// nil, ErrFailure or ErrExcluded. When !ok the breaker is open, or half-open with
// all its probes out: answer circuit_open.
func (b *Breaker) Allow() (done func(error), ok bool) {
	done, err := b.cb.Allow()
	return done, err == nil
}

// State is the current state.
func (b *Breaker) State() State { return stateOf(b.cb.State()) }

func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}
