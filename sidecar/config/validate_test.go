package config

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestValidationErrors has one row per rule, with the complete error text.
func TestValidationErrors(t *testing.T) {
	second := "  - name: b\n    listen: 127.0.0.1:9002\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		// service
		{"name required", "service: {name: ''}\n",
			`test.yaml: service.name: required`},
		{"empty file", "",
			`test.yaml: service.name: required`},
		{"port required to register", minimal + "  register: true\n",
			`test.yaml: service.port: required (1..65535) when service.register is true or inbound.listen is set`},
		{"port required for inbound", minimal + "inbound: {listen: '0.0.0.0:21000'}\n",
			`test.yaml: service.port: required (1..65535) when service.register is true or inbound.listen is set`},
		{"port out of range", minimal + "  port: 70000\n",
			`test.yaml: service.port: must be in 1..65535, got 70000`},
		{"negative port", minimal + "  port: -1\n",
			`test.yaml: service.port: must be in 1..65535, got -1`},
		{"address with a port", minimal + "  address: 127.0.0.1:8080\n",
			`test.yaml: service.address: must be a host without a port (the port goes in service.port), got "127.0.0.1:8080"`},
		{"address required to register", minimal + "  address: ''\n  register: true\n  port: 8080\n",
			`test.yaml: service.address: required when service.register is true or inbound.listen is set`},
		{"meta key Consul refuses", minimal + "  meta: {app.version: '1'}\n",
			`test.yaml: service.meta."app.version": key must use only letters, digits, _ and - (Consul's rule)`},
		{"reserved meta key", minimal + "  meta: {consul-x: '1'}\n",
			`test.yaml: service.meta.consul-x: key must not start with "consul-" (reserved by Consul)`},
		{"check url", minimal + "  check: {http: 'localhost:8080/health'}\n",
			`test.yaml: service.check.http: must be an http:// or https:// URL, got "localhost:8080/health"`},
		{"check interval", minimal + "  check: {interval: 0s}\n",
			`test.yaml: service.check.interval: must be > 0, got "0s"`},
		{"check timeout", minimal + "  check: {timeout: -2s}\n",
			`test.yaml: service.check.timeout: must be > 0, got "-2s"`},
		{"deregister after", minimal + "  check: {deregister_critical_after: -1m}\n",
			`test.yaml: service.check.deregister_critical_after: must be >= 0, got "-1m0s"`},

		// inbound
		{"inbound listen", "service: {name: web, port: 8080}\ninbound: {listen: '21000'}\n",
			`test.yaml: inbound.listen: must be host:port (like 127.0.0.1:9001), got "21000"`},

		// consul
		{"consul address with scheme", minimal + "consul: {address: 'http://127.0.0.1:8500'}\n",
			`test.yaml: consul.address: must be host:port without a scheme (set consul.scheme), got "http://127.0.0.1:8500"`},
		{"consul address port", minimal + "consul: {address: 'consul:http'}\n",
			`test.yaml: consul.address: must be host:port with a port in 1..65535, got "consul:http"`},
		{"consul address required", minimal + "consul: {address: ''}\n",
			`test.yaml: consul.address: required`},
		{"consul scheme", minimal + "consul: {scheme: ftp}\n",
			`test.yaml: consul.scheme: must be one of http|https, got "ftp"`},
		{"wait time zero", minimal + "consul: {wait_time: 0s}\n",
			`test.yaml: consul.wait_time: must be > 0, got "0s"`},
		{"wait time above Consul's max", minimal + "consul: {wait_time: 11m}\n",
			`test.yaml: consul.wait_time: must be <= 10m (Consul's maximum), got "11m0s"`},

		// limits
		{"max connections", minimal + "limits: {max_connections: 0}\n",
			`test.yaml: limits.max_connections: must be >= 1, got 0`},
		{"max request headers", minimal + "limits: {max_request_headers: 5}\n",
			`test.yaml: limits.max_request_headers: must be in 10..10000, got 5`},
		{"max response header bytes too small", minimal + "limits: {max_response_header_bytes: 100}\n",
			`test.yaml: limits.max_response_header_bytes: must be in 1KiB..16MiB, got 100B`},
		{"max response header bytes unit", minimal + "limits: {max_response_header_bytes: 64KB}\n",
			`test.yaml: limits.max_response_header_bytes: must be a size like "64KiB", "1MiB" or a number of bytes, got "64KB"`},
		{"max response header bytes negative", minimal + "limits: {max_response_header_bytes: -1}\n",
			`test.yaml: limits.max_response_header_bytes: must be a size like "64KiB", "1MiB" or a number of bytes, got -1`},
		{"max informational responses", minimal + "limits: {max_informational_responses: -1}\n",
			`test.yaml: limits.max_informational_responses: must be >= 0, got -1`},
		{"stream idle timeout", minimal + "limits: {stream_idle_timeout: 0s}\n",
			`test.yaml: limits.stream_idle_timeout: must be > 0, got "0s"`},

		// upstreams
		{"upstream name required", minimal + "upstreams: [{listen: '127.0.0.1:9001'}]\n",
			`test.yaml: upstreams[0].name: required`},
		{"upstream name characters", minimal + "upstreams: [{name: 'pay ments', listen: '127.0.0.1:9001'}]\n",
			`test.yaml: upstreams[0].name: must match [A-Za-z0-9_.-]+ (it labels metrics and traces), got "pay ments"`},
		{"upstream name unique", withUpstream() + "  - name: a\n    listen: 127.0.0.1:9002\n",
			`test.yaml: upstreams[1].name: "a" is already the name of upstreams[0]`},
		{"listen required", minimal + "upstreams: [{name: a}]\n",
			`test.yaml: upstreams[0].listen: required (no listener route names this upstream)`},
		{"listen format", minimal + "upstreams: [{name: a, listen: '9001'}]\n",
			`test.yaml: upstreams[0].listen: must be host:port (like 127.0.0.1:9001), got "9001"`},
		{"listen port range", minimal + "upstreams: [{name: a, listen: '127.0.0.1:99999'}]\n",
			`test.yaml: upstreams[0].listen: must be host:port with a port in 0..65535, got "127.0.0.1:99999"`},
		{"listen unique", withUpstream() + "  - name: b\n    listen: 127.0.0.1:9001\n",
			`test.yaml: upstreams[1].listen: "127.0.0.1:9001" is already used by upstreams[0].listen`},
		{"listen conflicts with a wildcard", withUpstream() + "  - name: b\n    listen: ':9001'\n",
			`test.yaml: upstreams[1].listen: ":9001" is already used by upstreams[0].listen`},
		{"listen conflicts with admin", withUpstream() + "admin: {listen: 'localhost:9001'}\n",
			`test.yaml: admin.listen: "localhost:9001" is already used by upstreams[0].listen`},
		{"listen conflicts with inbound", "service: {name: web, port: 8080}\ninbound: {listen: '0.0.0.0:9001'}\nupstreams: [{name: a, listen: '127.0.0.1:9001'}]\n",
			`test.yaml: upstreams[0].listen: "127.0.0.1:9001" is already used by inbound.listen`},
		{"protocol", withUpstream("protocol: grpc"),
			`test.yaml: upstreams[0].protocol: must be one of http|http2|tcp, got "grpc"`},
		{"lb", withUpstream("lb: fastest"),
			`test.yaml: upstreams[0].lb: must be one of least_conn|round_robin|random|ip_hash|p2c_ewma, got "fastest"`},
		{"endpoint format", withUpstream("endpoints: ['10.0.0.1']"),
			`test.yaml: upstreams[0].endpoints[0]: must be host:port with a port in 1..65535, got "10.0.0.1"`},
		{"endpoint port zero", withUpstream("endpoints: ['10.0.0.1:0']"),
			`test.yaml: upstreams[0].endpoints[0]: must be host:port with a port in 1..65535, got "10.0.0.1:0"`},
		{"endpoint without host", withUpstream("endpoints: [':8080']"),
			`test.yaml: upstreams[0].endpoints[0]: must be host:port with a port in 1..65535, got ":8080"`},
		{"endpoint with scheme", withUpstream("endpoints: ['http://10.0.0.1:80']"),
			`test.yaml: upstreams[0].endpoints[0]: must be host:port with a port in 1..65535, got "http://10.0.0.1:80" (without a scheme)`},
		// Regression: "bad host:80" was accepted and failed only when dialled.
		{"endpoint host with a space", withUpstream("endpoints: ['bad host:80']"),
			`test.yaml: upstreams[0].endpoints[0]: host must be an IP address or a DNS name (letters, digits, '-', '.', '_'), got "bad host:80"`},
		{"endpoint host with a slash", withUpstream("endpoints: ['a/b:80']"),
			`test.yaml: upstreams[0].endpoints[0]: host must be an IP address or a DNS name (letters, digits, '-', '.', '_'), got "a/b:80"`},
		{"endpoint host with an empty label", withUpstream("endpoints: ['a..b:80']"),
			`test.yaml: upstreams[0].endpoints[0]: host must be an IP address or a DNS name (letters, digits, '-', '.', '_'), got "a..b:80"`},
		{"endpoint duplicate", withUpstream("endpoints: ['a:1', 'b:1', 'A:1']"),
			`test.yaml: upstreams[0].endpoints[2]: "A:1" is listed twice (also endpoints[0])`},
		{"connect timeout", withUpstream("connect_timeout: 0s"),
			`test.yaml: upstreams[0].connect_timeout: must be > 0, got "0s"`},
		{"timeout", withUpstream("timeout: -1s"),
			`test.yaml: upstreams[0].timeout: must be >= 0, got "-1s"`},
		{"idle timeout", withUpstream("idle_timeout: 0s"),
			`test.yaml: upstreams[0].idle_timeout: must be > 0, got "0s"`},
		{"max idle", withUpstream("max_idle_per_endpoint: -1"),
			`test.yaml: upstreams[0].max_idle_per_endpoint: must be >= 0, got -1`},

		// retries
		{"attempts negative", withUpstream("retries: {attempts: -1}"),
			`test.yaml: upstreams[0].retries.attempts: must be >= 0, got -1`},
		{"attempts too many", withUpstream("retries: {attempts: 11}"),
			`test.yaml: upstreams[0].retries.attempts: must be <= 10, got 11`},
		{"per try timeout", withUpstream("retries: {per_try_timeout: -1s}"),
			`test.yaml: upstreams[0].retries.per_try_timeout: must be >= 0, got "-1s"`},
		{"retry on name", withUpstream("retries: {on: [reset, 6xx]}"),
			`test.yaml: upstreams[0].retries.on[1]: must be connect_failure, reset, timeout, 5xx, gateway_error or a status code 400..599, got "6xx"`},
		{"retry on status", withUpstream("retries: {on: [302]}"),
			`test.yaml: upstreams[0].retries.on[0]: must be connect_failure, reset, timeout, 5xx, gateway_error or a status code 400..599, got "302"`},
		{"budget percent", withUpstream("retries: {budget_percent: 150}"),
			`test.yaml: upstreams[0].retries.budget_percent: must be in [0, 100], got 150`},
		{"min per second", withUpstream("retries: {min_per_second: -1}"),
			`test.yaml: upstreams[0].retries.min_per_second: must be >= 0, got -1`},

		// outlier
		{"outlier interval", withUpstream() + second + "    outlier: {interval: -1s}\n",
			`test.yaml: upstreams[1].outlier.interval: must be > 0, got "-1s"`},
		{"base ejection time", withUpstream("outlier: {base_ejection_time: 0s}"),
			`test.yaml: upstreams[0].outlier.base_ejection_time: must be > 0, got "0s"`},
		{"max below base ejection time", withUpstream("outlier: {max_ejection_time: 10s}"),
			`test.yaml: upstreams[0].outlier.max_ejection_time: must be >= base_ejection_time (30s), got "10s"`},
		{"consecutive 5xx", withUpstream("outlier: {consecutive_5xx: -1}"),
			`test.yaml: upstreams[0].outlier.consecutive_5xx: must be >= 0, got -1`},
		{"consecutive local failure", withUpstream("outlier: {consecutive_local_failure: -1}"),
			`test.yaml: upstreams[0].outlier.consecutive_local_failure: must be >= 0, got -1`},
		{"failure percentage", withUpstream("outlier: {failure_percentage: 101}"),
			`test.yaml: upstreams[0].outlier.failure_percentage: must be in [0, 100], got 101`},
		{"failure percentage min requests", withUpstream("outlier: {failure_percentage_min_requests: -5}"),
			`test.yaml: upstreams[0].outlier.failure_percentage_min_requests: must be >= 0, got -5`},
		{"max ejection percent", withUpstream("outlier: {max_ejection_percent: -5}"),
			`test.yaml: upstreams[0].outlier.max_ejection_percent: must be in [0, 100], got -5`},
		{"disabled outlier still checks counts", withUpstream("outlier: {enabled: false, interval: 0s, consecutive_5xx: -1}"),
			`test.yaml: upstreams[0].outlier.consecutive_5xx: must be >= 0, got -1`},

		// circuit breaker
		{"rate limit negative", withUpstream("rate_limit: {requests_per_second: -1}"),
			`test.yaml: upstreams[0].rate_limit.requests_per_second: must be in [0, 1e+09], got -1`},
		{"rate limit burst negative", withUpstream("rate_limit: {requests_per_second: 5, burst: -1}"),
			`test.yaml: upstreams[0].rate_limit.burst: must be >= 0, got -1`},
		{"rate limit burst without rate", withUpstream("rate_limit: {burst: 10}"),
			`test.yaml: upstreams[0].rate_limit.burst: is set but requests_per_second is 0 (the limit is off); set requests_per_second too`},
		{"inbound rate limit", minimal + "inbound: {rate_limit: {requests_per_second: -5}}\n",
			`test.yaml: inbound.rate_limit.requests_per_second: must be in [0, 1e+09], got -5`},
		{"slow start negative", withUpstream("slow_start: -1s"),
			`test.yaml: upstreams[0].slow_start: must be >= 0, got "-1s"`},
		{"health", withUpstream("health: warning"),
			`test.yaml: upstreams[0].health: must be one of passing|passing_or_warning, got "warning"`},
		{"latency factor one", withUpstream("outlier: {latency_factor: 1}"),
			`test.yaml: upstreams[0].outlier.latency_factor: must be 0 (off) or in (1, 1000], got 1`},
		{"latency factor negative", withUpstream("outlier: {latency_factor: -2}"),
			`test.yaml: upstreams[0].outlier.latency_factor: must be 0 (off) or in (1, 1000], got -2`},
		{"access log format", minimal + "access_log: {format: xml}\n",
			`test.yaml: access_log.format: must be one of json|text, got "xml"`},
		{"access log path", minimal + "access_log: {enabled: true, path: ''}\n",
			`test.yaml: access_log.path: required`},
		{"probe listen", minimal + "admin: {probe_listen: '9902'}\n",
			`test.yaml: admin.probe_listen: must be host:port (like 127.0.0.1:9001), got "9902"`},
		{"probe listen clash", minimal + "admin: {probe_listen: '127.0.0.1:9901'}\n",
			`test.yaml: admin.probe_listen: "127.0.0.1:9901" is already used by admin.listen`},
		{"max requests", withUpstream("circuit_breaker: {max_requests: 0}"),
			`test.yaml: upstreams[0].circuit_breaker.max_requests: must be >= 1, got 0`},
		{"failure ratio zero", withUpstream("circuit_breaker: {failure_ratio: 0}"),
			`test.yaml: upstreams[0].circuit_breaker.failure_ratio: must be in (0, 1], got 0`},
		{"failure ratio above one", withUpstream("circuit_breaker: {failure_ratio: 1.5}"),
			`test.yaml: upstreams[0].circuit_breaker.failure_ratio: must be in (0, 1], got 1.5`},
		{"min requests", withUpstream("circuit_breaker: {min_requests: 0}"),
			`test.yaml: upstreams[0].circuit_breaker.min_requests: must be >= 1, got 0`},
		{"breaker interval", withUpstream("circuit_breaker: {interval: 0s}"),
			`test.yaml: upstreams[0].circuit_breaker.interval: must be > 0, got "0s"`},
		{"open timeout", withUpstream("circuit_breaker: {open_timeout: -30s}"),
			`test.yaml: upstreams[0].circuit_breaker.open_timeout: must be > 0, got "-30s"`},
		{"half open requests", withUpstream("circuit_breaker: {half_open_requests: 0}"),
			`test.yaml: upstreams[0].circuit_breaker.half_open_requests: must be >= 1, got 0`},

		// tracing
		{"exporter", minimal + "tracing: {exporter: jaeger}\n",
			`test.yaml: tracing.exporter: must be one of otlp|stdout|none, got "jaeger"`},
		{"otlp endpoint", minimal + "tracing: {exporter: otlp, endpoint: 'http://collector:4317'}\n",
			`test.yaml: tracing.endpoint: must be host:port with a port in 1..65535, got "http://collector:4317" (without a scheme)`},
		{"otlp endpoint required", minimal + "tracing: {exporter: otlp, endpoint: ''}\n",
			`test.yaml: tracing.endpoint: required`},
		{"tracing protocol", minimal + "tracing: {protocol: http}\n",
			`test.yaml: tracing.protocol: must be one of grpc|http/protobuf, got "http"`},
		{"sample ratio", minimal + "tracing: {sample_ratio: 2}\n",
			`test.yaml: tracing.sample_ratio: must be in [0, 1], got 2`},
		{"propagator", minimal + "tracing: {propagators: [tracecontext, jaeger]}\n",
			`test.yaml: tracing.propagators[1]: must be one of tracecontext|baggage|b3|b3multi, got "jaeger"`},

		// admin, log, drain
		{"admin listen required", minimal + "admin: {listen: ''}\n",
			`test.yaml: admin.listen: required`},
		{"admin listen format", minimal + "admin: {listen: 'localhost'}\n",
			`test.yaml: admin.listen: must be host:port (like 127.0.0.1:9001), got "localhost"`},
		{"admin not loopback", minimal + "admin: {listen: '0.0.0.0:9901'}\n",
			`test.yaml: admin.listen: "0.0.0.0:9901" is not a loopback address; set admin.allow_remote: true to expose the admin API`},
		{"log level", minimal + "log: {level: verbose}\n",
			`test.yaml: log.level: must be one of debug|info|warn|error, got "verbose"`},
		{"log format", minimal + "log: {format: logfmt}\n",
			`test.yaml: log.format: must be one of text|json, got "logfmt"`},
		{"drain timeout", minimal + "drain_timeout: 0s\n",
			`test.yaml: drain_timeout: must be > 0, got "0s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustFail(t, tt.src).Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	tests := map[string]string{
		"minimal":                     minimal,
		"upstream without endpoints":  withUpstream(),
		"names with host names":       withUpstream("endpoints: ['localhost:8080', 'api.internal:443', '[::1]:80']"),
		"port 0 listeners everywhere": "service: {name: web, port: 8080}\ninbound: {listen: '127.0.0.1:0'}\nadmin: {listen: '127.0.0.1:0'}\nupstreams:\n  - {name: a, listen: '127.0.0.1:0'}\n  - {name: b, listen: '127.0.0.1:0'}\n",
		"disabled outlier":            withUpstream("outlier: {enabled: false, interval: 0s, base_ejection_time: 0s}"),
		"register with port":          "service: {name: web, port: 8080, register: true, check: {http: 'http://127.0.0.1:8080/health'}}\n",
		"consul address without port": minimal + "consul: {address: consul.example.com, scheme: https}\n",
		"consul IPv6 address":         minimal + "consul: {address: '[::1]:8500'}\n",
		"retry status codes":          withUpstream("retries: {attempts: 10, on: [400, 599, 5xx, gateway_error, timeout]}"),
		"same port, other hosts":      withUpstream() + "  - {name: b, listen: '127.0.0.2:9001'}\n",
		"otlp":                        minimal + "tracing: {exporter: otlp, endpoint: 'collector:4317', protocol: http/protobuf, propagators: [b3, b3multi]}\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, _ := mustParse(t, src)
			if p := cfg.Validate(); p != nil {
				t.Errorf("Validate() on a parsed config = %v", p)
			}
		})
	}
}

func TestAdminLoopback(t *testing.T) {
	tests := []struct {
		listen      string
		allowRemote bool
		ok          bool
	}{
		{"127.0.0.1:9901", false, true},
		{"127.1.2.3:9901", false, true},
		{"[::1]:9901", false, true},
		{"localhost:9901", false, true},
		{"LocalHost:9901", false, true},
		{"127.0.0.1:0", false, true},
		{"0.0.0.0:9901", false, false},
		{":9901", false, false},
		{"[::]:9901", false, false},
		{"10.0.0.5:9901", false, false},
		{"admin.example.com:9901", false, false},
		{"0.0.0.0:9901", true, true},
		{":9901", true, true},
		{"10.0.0.5:9901", true, true},
	}
	for _, tt := range tests {
		cfg := Default()
		cfg.Service.Name = "web"
		cfg.Admin = Admin{Listen: tt.listen, AllowRemote: tt.allowRemote}
		got := cfg.Validate()
		if tt.ok && got != nil {
			t.Errorf("%s allow_remote=%v: %v, want valid", tt.listen, tt.allowRemote, got)
		}
		if !tt.ok {
			want := []Problem{{"admin.listen", quote(tt.listen) + " is not a loopback address; set admin.allow_remote: true to expose the admin API"}}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", tt.listen, got, want)
			}
		}
	}
}

// TestValidateBuiltInCode checks Validate on configs built without Parse:
// nil slices and maps are fine, NaN is caught, and problems come in key order.
func TestValidateBuiltInCode(t *testing.T) {
	cfg := Default()
	cfg.Service = Service{Name: "web", Check: Default().Service.Check}
	u := DefaultUpstream()
	u.Name, u.Listen = "a", "127.0.0.1:9001"
	u.Tags, u.Endpoints, u.Retries.On = nil, nil, nil
	u.Retries.Attempts = 0
	cfg.Upstreams = []Upstream{u}
	cfg.Tracing.Propagators = nil
	if p := cfg.Validate(); p != nil {
		t.Fatalf("Validate() = %v, want nil", p)
	}

	cfg.Tracing.SampleRatio = math.NaN()
	cfg.Upstreams[0].CircuitBreaker.FailureRatio = math.NaN()
	cfg.DrainTimeout = -time.Second
	want := []Problem{
		{"upstreams[0].circuit_breaker.failure_ratio", "must be in (0, 1], got NaN"},
		{"tracing.sample_ratio", "must be in [0, 1], got NaN"},
		{"drain_timeout", `must be > 0, got "-1s"`},
	}
	if got := cfg.Validate(); !slices.Equal(got, want) {
		t.Errorf("Validate() =\n%v\nwant\n%v", got, want)
	}
}

func TestListenConflict(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:9001", "127.0.0.1:9001", true},
		{"127.0.0.1:9001", "localhost:9001", true},
		{"0.0.0.0:9001", "127.0.0.1:9001", true},
		{"[::]:9001", "127.0.0.1:9001", true},
		{"[::1]:9001", "[0:0:0:0:0:0:0:1]:9001", true},
		{"127.0.0.1:9001", "127.0.0.2:9001", false},
		{"127.0.0.1:9001", "127.0.0.1:9002", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"bad", "bad", false},
	}
	for _, tt := range tests {
		if got := listenConflict(tt.a, tt.b); got != tt.want {
			t.Errorf("listenConflict(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestUpstreamNameInboundIsReserved(t *testing.T) {
	errs := mustFail(t, minimal+"upstreams: [{name: inbound, listen: '127.0.0.1:9001'}]\n")
	if want := `test.yaml: upstreams[0].name: "inbound" is reserved: it labels the inbound listener's metrics and logs`; errs.Error() != want {
		t.Errorf("got %q, want %q", errs.Error(), want)
	}
}
