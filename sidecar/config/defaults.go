package config

import (
	"math"
	"net"
	"strconv"
	"time"
)

// Default returns a Config with every documented default filled in and no
// upstreams. Keys whose default is derived from other keys (service.id,
// upstreams[].service) are left empty here; Parse fills them once the file
// and the environment have been applied.
//
// Every call returns fresh slices and maps, so callers may modify the result.
func Default() Config {
	return Config{
		Service: Service{
			Address: "127.0.0.1",
			Tags:    []string{},
			Meta:    map[string]string{},
			Check: Check{
				Interval:                10 * time.Second,
				Timeout:                 2 * time.Second,
				DeregisterCriticalAfter: time.Minute,
			},
		},
		Consul: Consul{
			Address:    "127.0.0.1:8500",
			Scheme:     "http",
			WaitTime:   5 * time.Minute,
			AllowStale: true,
		},
		Upstreams: []Upstream{},
		Listeners: []Listener{},
		Tracing: Tracing{
			Exporter:    "none",
			Endpoint:    "127.0.0.1:4317",
			Protocol:    "grpc",
			Insecure:    true,
			SampleRatio: 1.0,
			Propagators: []string{"tracecontext", "baggage"},
		},
		Admin: Admin{
			Listen: "127.0.0.1:9901",
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Limits:       DefaultLimits(),
		Connect:      Connect{RegisterProxy: true},
		AccessLog:    AccessLog{Path: "stdout", Format: "json"},
		DrainTimeout: 20 * time.Second,
	}
}

// DefaultLimits are the limits of a config that sets none.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:            10000,
		MaxRequestHeaders:         100,
		MaxResponseHeaderBytes:    64 << 10,
		MaxInformationalResponses: 10,
		StreamIdleTimeout:         5 * time.Minute,
	}
}

// DefaultUpstream returns an Upstream with every documented upstream default
// filled in; name, listen and service are empty. Every list item of
// `upstreams:` starts from this value before the file's keys are applied.
func DefaultUpstream() Upstream {
	return Upstream{
		Protocol:           ProtocolHTTP,
		Tags:               []string{},
		Endpoints:          []string{},
		LB:                 LBLeastConn,
		ConnectTimeout:     time.Second,
		Timeout:            30 * time.Second,
		IdleTimeout:        90 * time.Second,
		MaxIdlePerEndpoint: 64,
		Health:             HealthPassing,
		Retries: Retries{
			Attempts:      1,
			PerTryTimeout: 0,
			On:            []string{"connect_failure", "reset", "502", "503", "504"},
			BudgetPercent: 20,
			MinPerSecond:  10,
		},
		Outlier: Outlier{
			Enabled:                      true,
			Interval:                     10 * time.Second,
			Consecutive5xx:               5,
			ConsecutiveLocalFailure:      5,
			FailurePercentage:            0,
			FailurePercentageMinRequests: 50,
			BaseEjectionTime:             30 * time.Second,
			MaxEjectionTime:              300 * time.Second,
			MaxEjectionPercent:           50,
		},
		CircuitBreaker: CircuitBreaker{
			MaxRequests:      1024,
			FailureRatio:     0.5,
			MinRequests:      20,
			Interval:         10 * time.Second,
			OpenTimeout:      30 * time.Second,
			HalfOpenRequests: 5,
		},
	}
}

// derive fills the defaults that depend on other keys. It runs after the file
// and the environment are applied, so that OUTRIGGER_SERVICE_NAME or a port
// from the environment shows up in the derived service ID.
func (c *Config) derive(hostname string) {
	if c.Service.ID == "" && c.Service.Name != "" {
		c.Service.ID = c.Service.Name + "-" + hostname + "-" + strconv.Itoa(c.RegisteredPort())
	}
	for i := range c.Upstreams {
		if c.Upstreams[i].Service == "" {
			c.Upstreams[i].Service = c.Upstreams[i].Name
		}
		c.Upstreams[i].RateLimit.deriveBurst()
	}
	c.Inbound.RateLimit.deriveBurst()
	for i := range c.Listeners {
		for j := range c.Listeners[i].Routes {
			if r := &c.Listeners[i].Routes[j]; r.Name == "" {
				r.Name = DefaultRouteName(j)
			}
		}
	}
}

// DefaultRouteName is the name of the index'th route of a listener that
// names it not: "route-<index>".
func DefaultRouteName(index int) string { return "route-" + strconv.Itoa(index) }

// RegisteredPort is the port the sidecar registers in Consul: the inbound
// listener's when there is one with a fixed port (docs/contract.md: "when set and
// service.register is true, this port is the one registered"), else the
// application's own.
func (c *Config) RegisteredPort() int {
	if c.Inbound.Listen != "" {
		if _, p, err := net.SplitHostPort(c.Inbound.Listen); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 && n <= 65535 {
				return n
			}
		}
	}
	return c.Service.Port
}

// deriveBurst makes an unset burst ceil(requests_per_second): one second's
// worth of requests may pass at once, as Envoy's local rate limit does with
// max_tokens = tokens_per_fill.
func (r *RateLimit) deriveBurst() {
	if r.Burst == 0 && r.RequestsPerSecond > 0 {
		r.Burst = int(math.Ceil(r.RequestsPerSecond))
	}
}
