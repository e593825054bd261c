package config

import (
	"strconv"
	"strings"
)

// maxRetryAttempts bounds retries.attempts: beyond a handful, retries only
// multiply load on an upstream that is already failing.
const maxRetryAttempts = 10

// check validates one upstream's own keys; path is "upstreams[i]".
func (u *Upstream) check(k *checker, path string) {
	at := func(key string) string { return path + "." + key }

	switch {
	case !k.required(at("name"), u.Name):
	case !validName(u.Name):
		k.add(at("name"), "must match [A-Za-z0-9_.-]+ (it labels metrics and traces), got "+quote(u.Name))
	case u.Name == "inbound":
		k.add(at("name"), `"inbound" is reserved: it labels the inbound listener's metrics and logs`)
	}
	// An upstream that only routes name needs no listener of its own
	// (Config.checkListeners).
	if u.Listen != "" {
		k.checkListen(at("listen"), u.Listen)
	}
	k.oneOf(at("protocol"), u.Protocol, ProtocolHTTP, ProtocolHTTP2, ProtocolTCP)
	k.oneOf(at("lb"), u.LB, LBLeastConn, LBRoundRobin, LBRandom, LBIPHash, LBP2CEWMA)

	// No endpoints is valid: the upstream is then discovered in Consul.
	seen := make(map[string]int, len(u.Endpoints))
	for i, e := range u.Endpoints {
		p := index(at("endpoints"), i)
		k.checkDial(p, e)
		key := strings.ToLower(e)
		if first, dup := seen[key]; dup {
			k.add(p, quote(e)+" is listed twice (also endpoints["+strconv.Itoa(first)+"])")
			continue
		}
		seen[key] = i
	}

	k.positive(at("connect_timeout"), u.ConnectTimeout)
	k.nonNegative(at("timeout"), u.Timeout) // 0 = no overall timeout
	k.positive(at("idle_timeout"), u.IdleTimeout)
	k.atLeast(at("max_idle_per_endpoint"), u.MaxIdlePerEndpoint, 0)

	u.Retries.check(k, at("retries"))
	u.Outlier.check(k, at("outlier"))
	u.CircuitBreaker.check(k, at("circuit_breaker"))
	u.RateLimit.check(k, at("rate_limit"))
	k.nonNegative(at("slow_start"), u.SlowStart) // 0 = off
	k.oneOf(at("health"), u.Health, HealthPassing, HealthPassingOrWarning)
}

// maxRequestsPerSecond bounds rate_limit.requests_per_second: beyond it a
// limit is indistinguishable from none on one sidecar, and the bucket's
// float arithmetic stays exact.
const maxRequestsPerSecond = 1e9

// check validates a rate_limit block; path is "upstreams[i].rate_limit"
// or "inbound.rate_limit".
func (r *RateLimit) check(k *checker, path string) {
	at := func(key string) string { return path + "." + key }
	k.within(at("requests_per_second"), r.RequestsPerSecond, 0, maxRequestsPerSecond)
	k.atLeast(at("burst"), r.Burst, 0)
	if r.Burst > 0 && r.RequestsPerSecond == 0 {
		k.add(at("burst"), "is set but requests_per_second is 0 (the limit is off); set requests_per_second too")
	}
}

func (r *Retries) check(k *checker, path string) {
	at := func(key string) string { return path + "." + key }
	k.atLeast(at("attempts"), r.Attempts, 0)
	if r.Attempts > maxRetryAttempts {
		k.addf(at("attempts"), "must be <= %d, got %d", maxRetryAttempts, r.Attempts)
	}
	k.nonNegative(at("per_try_timeout"), r.PerTryTimeout) // 0 = only the whole timeout
	for i, on := range r.On {
		if !validRetryOn(on) {
			k.add(index(at("on"), i), "must be connect_failure, reset, timeout, 5xx, gateway_error or a status code 400..599, got "+quote(on))
		}
	}
	k.within(at("budget_percent"), r.BudgetPercent, 0, 100)
	k.atLeast(at("min_per_second"), r.MinPerSecond, 0)
}

func validRetryOn(on string) bool {
	switch on {
	case "connect_failure", "reset", "timeout", "5xx", "gateway_error":
		return true
	}
	if len(on) != 3 {
		return false
	}
	n, err := strconv.Atoi(on)
	return err == nil && n >= 400 && n <= 599
}

func (o *Outlier) check(k *checker, path string) {
	at := func(key string) string { return path + "." + key }
	// The durations drive the detector's ticker and ejection clock, so they
	// only matter when it runs; a disabled detector may leave them at 0.
	if o.Enabled {
		k.positive(at("interval"), o.Interval)
		k.positive(at("base_ejection_time"), o.BaseEjectionTime)
		if o.BaseEjectionTime > 0 && o.MaxEjectionTime < o.BaseEjectionTime {
			k.add(at("max_ejection_time"), "must be >= base_ejection_time ("+o.BaseEjectionTime.String()+"), got "+showDuration(o.MaxEjectionTime))
		}
	}
	k.atLeast(at("consecutive_5xx"), o.Consecutive5xx, 0)
	k.atLeast(at("consecutive_local_failure"), o.ConsecutiveLocalFailure, 0)
	k.within(at("failure_percentage"), o.FailurePercentage, 0, 100)
	k.atLeast(at("failure_percentage_min_requests"), o.FailurePercentageMinRequests, 0)
	k.within(at("max_ejection_percent"), o.MaxEjectionPercent, 0, 100)
	// A factor of 1 or less would eject every endpoint slower than the
	// median, half of any healthy set.
	if o.LatencyFactor != 0 && !(o.LatencyFactor > 1 && o.LatencyFactor <= 1000) {
		k.add(at("latency_factor"), "must be 0 (off) or in (1, 1000], got "+showFloat(o.LatencyFactor))
	}
}

func (b *CircuitBreaker) check(k *checker, path string) {
	at := func(key string) string { return path + "." + key }
	k.atLeast(at("max_requests"), b.MaxRequests, 1)
	// A ratio of 0 would open on the first request; above 1 never opens.
	if !(b.FailureRatio > 0 && b.FailureRatio <= 1) {
		k.add(at("failure_ratio"), "must be in (0, 1], got "+showFloat(b.FailureRatio))
	}
	k.atLeast(at("min_requests"), b.MinRequests, 1)
	k.positive(at("interval"), b.Interval)
	k.positive(at("open_timeout"), b.OpenTimeout)
	k.atLeast(at("half_open_requests"), b.HalfOpenRequests, 1)
}

// checkUniqueUpstreams checks that names are unique (they key metrics and
// the admin API) and that no two listeners share a socket: the inbound
// listener, every upstream's, and the admin API's.
func (c *Config) checkUniqueUpstreams(k *checker) {
	names := make(map[string]int, len(c.Upstreams))
	for i, u := range c.Upstreams {
		if u.Name == "" {
			continue
		}
		if first, dup := names[u.Name]; dup {
			k.add(index("upstreams", i)+".name", quote(u.Name)+" is already the name of upstreams["+strconv.Itoa(first)+"]")
			continue
		}
		names[u.Name] = i
	}

	type listener struct{ path, addr string }
	var ls []listener
	if c.Inbound.Listen != "" {
		ls = append(ls, listener{"inbound.listen", c.Inbound.Listen})
	}
	for i, u := range c.Upstreams {
		if u.Listen != "" {
			ls = append(ls, listener{index("upstreams", i) + ".listen", u.Listen})
		}
	}
	for i, l := range c.Listeners {
		if l.Listen != "" {
			ls = append(ls, listener{index("listeners", i) + ".listen", l.Listen})
		}
	}
	ls = append(ls, listener{"admin.listen", c.Admin.Listen})
	if c.Admin.ProbeListen != "" {
		ls = append(ls, listener{"admin.probe_listen", c.Admin.ProbeListen})
	}
	for j := range ls {
		for i := range j {
			if listenConflict(ls[i].addr, ls[j].addr) {
				k.add(ls[j].path, quote(ls[j].addr)+" is already used by "+ls[i].path)
				break
			}
		}
	}
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return s != ""
}
