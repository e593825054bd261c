// Package retry decides whether a failed attempt is tried again: which
// failures qualify (`retries.on`), which requests may be replayed (method,
// body), and whether the retry budget allows it. The handler owns the loop;
// everything here is lock-free and safe for concurrent use.
package retry

import (
	"strconv"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Failure is what went wrong with an attempt, as `retries.on` names it.
type Failure uint8

const (
	// Status means the upstream answered; the status code decides.
	Status Failure = iota
	ConnectFailure
	Reset
	Timeout
)

// Policy is an upstream's retry configuration, parsed once.
type Policy struct {
	Attempts      int
	PerTryTimeout time.Duration
	onConnect     bool
	onReset       bool
	onTimeout     bool
	codes         [6]uint64 // bitmap of status codes 0..383 offset by 200: 200..583
	all5xx        bool
}

const codeBase = 200

// NewPolicy parses cfg (already validated by the config package).
func NewPolicy(cfg config.Retries) Policy {
	p := Policy{Attempts: cfg.Attempts, PerTryTimeout: cfg.PerTryTimeout}
	for _, on := range cfg.On {
		switch on {
		case "connect_failure":
			p.onConnect = true
		case "reset":
			p.onReset = true
		case "timeout":
			p.onTimeout = true
		case "5xx":
			p.all5xx = true
			p.onTimeout = true // a timed-out try is answered 504
		case "gateway_error":
			p.setCode(502)
			p.setCode(503)
			p.setCode(504)
		default:
			if code, err := strconv.Atoi(on); err == nil {
				p.setCode(code)
			}
		}
	}
	// A try that timed out is answered 504 upstream_timeout; retrying on
	// "504" therefore covers it too (documented in docs/resilience.md).
	if p.hasCode(504) {
		p.onTimeout = true
	}
	return p
}

func (p *Policy) setCode(code int) {
	if i := code - codeBase; i >= 0 && i < len(p.codes)*64 {
		p.codes[i/64] |= 1 << (i % 64)
	}
}

func (p *Policy) hasCode(code int) bool {
	i := code - codeBase
	return i >= 0 && i < len(p.codes)*64 && p.codes[i/64]&(1<<(i%64)) != 0
}

// Matches reports whether an attempt that failed with f (and, for Status,
// answered code) qualifies for a retry under `retries.on`.
func (p *Policy) Matches(f Failure, code int) bool {
	switch f {
	case ConnectFailure:
		return p.onConnect
	case Reset:
		return p.onReset
	case Timeout:
		return p.onTimeout
	}
	return (p.all5xx && code >= 500 && code <= 599) || p.hasCode(code)
}
