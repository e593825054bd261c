package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// maxWaitTime is Consul's own ceiling for a blocking query's wait; a longer
// wait is silently clamped by the agent, so it is refused here instead.
const maxWaitTime = 10 * time.Minute

// Validate checks every key and returns every problem, in key order, or nil
// when the config is valid. Parse calls it after applying the file and the
// environment; code that builds a Config itself (tests, tools) calls it
// directly. It checks keys whose behaviour arrives in later releases too, so
// that a config accepted today keeps being accepted.
func (c *Config) Validate() []Problem {
	issues := c.validate()
	if len(issues) == 0 {
		return nil
	}
	sortIssues(issues)
	out := make([]Problem, len(issues))
	for i, is := range issues {
		out[i] = is.problem()
	}
	return out
}

func (c *Config) validate() []issue {
	var k checker
	c.checkService(&k)
	if c.Inbound.Listen != "" {
		k.checkListen("inbound.listen", c.Inbound.Listen)
	}
	c.Inbound.RateLimit.check(&k, "inbound.rate_limit")
	c.checkConsul(&k)
	for i := range c.Upstreams {
		c.Upstreams[i].check(&k, index("upstreams", i))
	}
	c.checkUniqueUpstreams(&k)
	c.checkListeners(&k)
	c.checkTracing(&k)
	c.checkAdmin(&k)
	k.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	k.oneOf("log.format", c.Log.Format, "text", "json")
	c.checkLimits(&k)
	c.checkAccessLog(&k)
	k.positive("drain_timeout", c.DrainTimeout)
	return k.issues
}

func (c *Config) checkService(k *checker) {
	s := &c.Service
	k.required("service.name", s.Name)
	// The port is where the inbound listener forwards and what Consul
	// advertises, so either feature needs it.
	needPort := s.Register || c.Inbound.Listen != ""
	switch {
	case s.Port == 0 && needPort:
		k.add("service.port", "required (1..65535) when service.register is true or inbound.listen is set")
	case s.Port < 0 || s.Port > 65535:
		k.addf("service.port", "must be in 1..65535, got %d", s.Port)
	}
	if s.Address == "" {
		if needPort {
			k.add("service.address", "required when service.register is true or inbound.listen is set")
		}
	} else if _, _, err := net.SplitHostPort(s.Address); err == nil {
		k.add("service.address", "must be a host without a port (the port goes in service.port), got "+quote(s.Address))
	}
	for key := range s.Meta {
		if msg := metaKeyProblem(key); msg != "" {
			k.add(child("service.meta", key), msg)
		}
	}
	if s.Check.HTTP != "" {
		u, err := url.Parse(s.Check.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			k.add("service.check.http", "must be an http:// or https:// URL, got "+quote(s.Check.HTTP))
		}
	}
	k.positive("service.check.interval", s.Check.Interval)
	k.positive("service.check.timeout", s.Check.Timeout)
	// 0 means "never deregister", as in Consul.
	k.nonNegative("service.check.deregister_critical_after", s.Check.DeregisterCriticalAfter)
}

// metaKeyProblem applies Consul's rules for service meta keys, so that a bad
// key fails here rather than at registration time in a running sidecar.
func metaKeyProblem(key string) string {
	if len(key) > 128 {
		return "key must be at most 128 characters (Consul's limit)"
	}
	if strings.HasPrefix(key, "consul-") {
		return `key must not start with "consul-" (reserved by Consul)`
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "key must use only letters, digits, _ and - (Consul's rule)"
		}
	}
	return ""
}

func (c *Config) checkConsul(k *checker) {
	cs := &c.Consul
	// Consul accepts an address without a port (behind an HTTPS load
	// balancer, say), so only a given port is checked.
	if k.required("consul.address", cs.Address) {
		msg := ""
		if strings.Contains(cs.Address, "://") {
			msg = "must be host:port without a scheme (set consul.scheme), got " + quote(cs.Address)
		} else if _, p, err := net.SplitHostPort(cs.Address); err == nil {
			if !validPort(p) {
				msg = "must be host:port with a port in 1..65535, got " + quote(cs.Address)
			}
		} else if strings.Contains(cs.Address, ":") && net.ParseIP(cs.Address) == nil {
			msg = "must be host:port, got " + quote(cs.Address)
		}
		if msg != "" {
			k.add("consul.address", msg)
		}
	}
	k.oneOf("consul.scheme", cs.Scheme, "http", "https")
	k.positive("consul.wait_time", cs.WaitTime)
	if cs.WaitTime > maxWaitTime {
		k.add("consul.wait_time", "must be <= 10m (Consul's maximum), got "+showDuration(cs.WaitTime))
	}
}

func (c *Config) checkTracing(k *checker) {
	t := &c.Tracing
	k.oneOf("tracing.exporter", t.Exporter, "otlp", "stdout", "none")
	if t.Exporter == "otlp" && k.required("tracing.endpoint", t.Endpoint) {
		k.checkDial("tracing.endpoint", t.Endpoint)
	}
	k.oneOf("tracing.protocol", t.Protocol, "grpc", "http/protobuf")
	k.within("tracing.sample_ratio", t.SampleRatio, 0, 1)
	for i, p := range t.Propagators {
		k.oneOf(index("tracing.propagators", i), p, "tracecontext", "baggage", "b3", "b3multi")
	}
}

func (c *Config) checkAccessLog(k *checker) {
	a := &c.AccessLog
	// Checked when disabled too, so that turning it on by reload or by
	// OUTRIGGER_ACCESS_LOG_ENABLED cannot meet a bad path or format.
	k.required("access_log.path", a.Path)
	k.oneOf("access_log.format", a.Format, "json", "text")
}

func (c *Config) checkAdmin(k *checker) {
	a := &c.Admin
	// The probe address serves only /healthz and /ready, so it may face
	// the network without allow_remote.
	if a.ProbeListen != "" {
		k.checkListen("admin.probe_listen", a.ProbeListen)
	}
	if !k.required("admin.listen", a.Listen) {
		return
	}
	host, _, msg := splitListen(a.Listen)
	if msg != "" {
		k.add("admin.listen", msg)
		return
	}
	// The admin API shows the config and endpoint state without any
	// authentication; exposing it must be a deliberate choice.
	if !a.AllowRemote && !isLoopback(host) {
		k.add("admin.listen", quote(a.Listen)+" is not a loopback address; set admin.allow_remote: true to expose the admin API")
	}
}

// Bounds of the limits: below the minimums a sidecar cannot serve ordinary
// traffic (a browser sends ~20 header lines; a 1 KiB head is tiny), so a
// smaller value is a typo rather than a choice.
const (
	minResponseHeaderBytes = 1 << 10
	maxResponseHeaderBytes = 16 << 20
	minRequestHeaders      = 10
	maxRequestHeaders      = 10000
)

func (c *Config) checkLimits(k *checker) {
	l := &c.Limits
	k.atLeast("limits.max_connections", l.MaxConnections, 1)
	if l.MaxRequestHeaders < minRequestHeaders || l.MaxRequestHeaders > maxRequestHeaders {
		k.addf("limits.max_request_headers", "must be in %d..%d, got %d", minRequestHeaders, maxRequestHeaders, l.MaxRequestHeaders)
	}
	if l.MaxResponseHeaderBytes < minResponseHeaderBytes || l.MaxResponseHeaderBytes > maxResponseHeaderBytes {
		k.addf("limits.max_response_header_bytes", "must be in %s..%s, got %s",
			ByteSize(minResponseHeaderBytes), ByteSize(maxResponseHeaderBytes), l.MaxResponseHeaderBytes)
	}
	k.atLeast("limits.max_informational_responses", l.MaxInformationalResponses, 0)
	k.positive("limits.stream_idle_timeout", l.StreamIdleTimeout)
}

func validPort(p string) bool {
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' || n > 65535 {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return p != "" && n >= 1 && n <= 65535
}
