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
	// Failure counts against the upstream: 5xx, connect failure, reset, timeout.
	Failure = errors.New("upstream failure")
	// Excluded counts for nothing: the client cancelled its own request.
	Excluded = errors.New("excluded")
)

// State values as SPEC.md names them, with the metric's numbers.
const (
	Closed   = "closed"
	HalfOpen = "half_open"
	Open     = "open"
)

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
			return c.Requests >= minRequests && float64(c.TotalFailures) >= ratio*float64(c.Requests)
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, Excluded) },
	}
	st.OnStateChange = func(name string, from, to gobreaker.State) {
		log.Warn("circuit breaker state changed", "upstream", name, "from", stateName(from), "to", stateName(to),
			"failure_ratio", ratio, "min_requests", minRequests, "open_timeout", cfg.OpenTimeout.String(),
			"half_open_requests", cfg.HalfOpenRequests)
	}
	return &Breaker{cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

// Allow admits one attempt. When ok, done must be called exactly once with
// nil, Failure or Excluded. When !ok the breaker is open, or half-open with
// all its probes out: answer circuit_open.
func (b *Breaker) Allow() (done func(error), ok bool) {
	done, err := b.cb.Allow()
	return done, err == nil
}

// State is the current state's SPEC.md name.
func (b *Breaker) State() string { return stateName(b.cb.State()) }

// StateValue is the state as outrigger_circuit_breaker_state reports it:
// 0 closed, 1 half-open, 2 open.
func (b *Breaker) StateValue() int {
	switch b.cb.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}
