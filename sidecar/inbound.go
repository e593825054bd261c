package sidecar

import (
	"math"
	"net"
	"strconv"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// inboundUpstream is the route of the inbound listener: every request goes
// to the one local application (service.address:service.port). Retries,
// outlier ejection and the breaker are for choosing among remote
// endpoints and do not apply: a failing local app is the app's answer.
// The caller's sidecar bounds the time, so there is no timeout here either.
// inbound.rate_limit becomes this route's rate_limit, so the inbound
// handler refuses over it as an upstream's does (docs/rate-limits.md).
func inboundUpstream(cfg *config.Config) config.Upstream {
	u := config.DefaultUpstream()
	u.Name = "inbound"
	u.Listen = cfg.Inbound.Listen
	u.Endpoints = []string{net.JoinHostPort(cfg.Service.Address, strconv.Itoa(cfg.Service.Port))}
	u.Timeout = 0
	u.Retries.Attempts = 0
	u.Outlier.Enabled = false
	u.CircuitBreaker.MinRequests = math.MaxInt32 // never opens
	u.RateLimit = cfg.Inbound.RateLimit
	return u
}
