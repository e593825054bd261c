package config

import (
	"fmt"
	"math"
)

// Warnings explains settings of a valid config that cannot work the way the
// user likely intends. They do not stop the sidecar (`outrigger validate`
// exits 0), so each says what will happen instead. The order is fixed:
// upstream by upstream, keys in schema order.
func (c *Config) Warnings() []string {
	var out []string
	if c.Connect.Enabled && c.Inbound.Listen == "" {
		msg := "connect.enabled: true without inbound.listen: this service accepts no mesh traffic (only its upstreams use mTLS)"
		if c.Service.Register && c.Connect.RegisterProxy {
			msg += ", and no connect-proxy is registered for it"
		}
		out = append(out, msg)
	}
	for i := range c.Upstreams {
		out = append(out, c.Upstreams[i].warnings(index("upstreams", i))...)
	}
	for i := range c.Listeners {
		out = append(out, c.Listeners[i].warnings(index("listeners", i))...)
	}
	return out
}

func (u *Upstream) warnings(path string) []string {
	var out []string
	add := func(key, format string, args ...any) {
		out = append(out, path+"."+key+": "+fmt.Sprintf(format, args...))
	}

	r := &u.Retries
	if r.Attempts > 0 && len(r.On) == 0 {
		add("retries.on", "empty, so the %d retry attempt(s) never happen; list the failures to retry or set attempts: 0", r.Attempts)
	}
	// timeout covers the whole request, retries included: a per-try
	// timeout as long as it can never cut a try short.
	if r.PerTryTimeout > 0 && u.Timeout > 0 && r.PerTryTimeout >= u.Timeout {
		add("retries.per_try_timeout", "%s is not shorter than timeout (%s), so the per-try timeout never fires first", r.PerTryTimeout, u.Timeout)
	}

	o := &u.Outlier
	if o.Enabled {
		if o.Consecutive5xx == 0 && o.ConsecutiveLocalFailure == 0 && o.FailurePercentage == 0 && o.LatencyFactor == 0 {
			add("outlier.enabled", "true, but consecutive_5xx, consecutive_local_failure, failure_percentage and latency_factor are all 0, so nothing is ever ejected")
		}
		// The runtime always lets one of two or more endpoints be ejected,
		// whatever the percentage; a percentage too small to eject a whole
		// endpoint therefore does not mean what it says. Only static
		// endpoints are countable here; Consul's count is known at run time.
		n := len(u.Endpoints)
		if n >= 2 && math.Floor(o.MaxEjectionPercent*float64(n)/100) == 0 {
			add("outlier.max_ejection_percent", "%s%% of %d endpoints ejects none; at least one host is always ejectable", showFloat(o.MaxEjectionPercent), n)
		}
		// Ejected endpoints return at the first sweep after their time is
		// up, so an ejection always lasts at least one interval.
		if o.LatencyFactor > 1 && len(u.Endpoints) == 1 {
			add("outlier.latency_factor", "set with a single endpoint, which has no others to be compared with, so it is never ejected for latency")
		}
		if o.Interval > o.BaseEjectionTime {
			add("outlier.interval", "%s is longer than base_ejection_time (%s): endpoints are checked for return only every interval, so ejections last at least %s", o.Interval, o.BaseEjectionTime, o.Interval)
		}
	}

	if o.LatencyFactor > 1 && !o.Enabled {
		add("outlier.latency_factor", "%s has no effect while outlier.enabled is false", showFloat(o.LatencyFactor))
	}
	if u.Health == HealthPassingOrWarning && len(u.Endpoints) > 0 {
		add("health", "passing_or_warning has no effect on static endpoints (Consul is not asked)")
	}

	// When the upstream hangs, every request lasts `timeout`, so at most
	// max_requests × interval/timeout requests can finish in one counting
	// interval; a min_requests above that means the breaker never opens on
	// a hung upstream, the case it exists for.
	cb := &u.CircuitBreaker
	if u.Timeout > 0 && cb.Interval > 0 && cb.MaxRequests > 0 {
		perInterval := float64(cb.MaxRequests) * math.Max(1, float64(cb.Interval)/float64(u.Timeout))
		if float64(cb.MinRequests) > perInterval {
			add("circuit_breaker.min_requests", "%d is more than the %d requests that can finish in one interval (%s) when every request hangs for timeout (%s) with max_requests %d, so the breaker cannot open on a hung upstream",
				cb.MinRequests, int(perInterval), cb.Interval, u.Timeout, cb.MaxRequests)
		}
	}
	return out
}
