// Package config defines Outrigger's configuration schema (docs/contract.md,
// "Configuration file"), loads it with viper from YAML, TOML or JSON, applies
// environment overrides and defaults, and validates it. Config values are
// plain data: runtime state lives in the objects built from them.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	Service      Service       `mapstructure:"service" json:"service"`
	Inbound      Inbound       `mapstructure:"inbound" json:"inbound"`
	Consul       Consul        `mapstructure:"consul" json:"consul"`
	Upstreams    []Upstream    `mapstructure:"upstreams" json:"upstreams"`
	Listeners    []Listener    `mapstructure:"listeners" json:"listeners"`
	Tracing      Tracing       `mapstructure:"tracing" json:"tracing"`
	Admin        Admin         `mapstructure:"admin" json:"admin"`
	Log          Log           `mapstructure:"log" json:"log"`
	Limits       Limits        `mapstructure:"limits" json:"limits"`
	Connect      Connect       `mapstructure:"connect" json:"connect"`
	AccessLog    AccessLog     `mapstructure:"access_log" json:"access_log"`
	DrainTimeout time.Duration `mapstructure:"drain_timeout" json:"drain_timeout"`

	// File is the path the config was loaded from ("" when built in code).
	File string `mapstructure:"-" json:"-"`
}

// Service is the local application this sidecar sits beside.
type Service struct {
	Name     string            `mapstructure:"name" json:"name"`
	ID       string            `mapstructure:"id" json:"id"`
	Address  string            `mapstructure:"address" json:"address"`
	Port     int               `mapstructure:"port" json:"port"`
	Tags     []string          `mapstructure:"tags" json:"tags"`
	Meta     map[string]string `mapstructure:"meta" json:"meta"`
	Register bool              `mapstructure:"register" json:"register"`
	Check    Check             `mapstructure:"check" json:"check"`
}

// Check is the Consul health check registered with the service.
type Check struct {
	HTTP                    string        `mapstructure:"http" json:"http"`
	Interval                time.Duration `mapstructure:"interval" json:"interval"`
	Timeout                 time.Duration `mapstructure:"timeout" json:"timeout"`
	DeregisterCriticalAfter time.Duration `mapstructure:"deregister_critical_after" json:"deregister_critical_after"`
}

// Inbound is the optional listener in front of the local application.
type Inbound struct {
	Listen string `mapstructure:"listen" json:"listen"`
	// RateLimit caps the requests (connections for a TCP app) the inbound
	// listener passes to the local application.
	RateLimit RateLimit `mapstructure:"rate_limit" json:"rate_limit"`
}

// RateLimit is a token bucket local to this sidecar (docs/rate-limits.md).
type RateLimit struct {
	// RequestsPerSecond is the bucket's refill rate; 0 turns the limit off.
	RequestsPerSecond float64 `mapstructure:"requests_per_second" json:"requests_per_second"`
	// Burst is the bucket's size: how many requests may pass at once after
	// a quiet spell. 0 in the file means ceil(requests_per_second).
	Burst int `mapstructure:"burst" json:"burst"`
}

// Enabled reports whether the limit applies.
func (r RateLimit) Enabled() bool { return r.RequestsPerSecond > 0 }

// Health values of Upstream.Health.
const (
	HealthPassing          = "passing"
	HealthPassingOrWarning = "passing_or_warning"
)

// AccessLog configures the per-request (per TCP connection) access log.
type AccessLog struct {
	Enabled bool   `mapstructure:"enabled" json:"enabled"`
	Path    string `mapstructure:"path" json:"path"`     // stdout | stderr | a file path
	Format  string `mapstructure:"format" json:"format"` // json | text
}

// Consul says how to reach the Consul agent.
type Consul struct {
	Address      string        `mapstructure:"address" json:"address"`
	Scheme       string        `mapstructure:"scheme" json:"scheme"`
	Token        string        `mapstructure:"token" json:"token"`
	Datacenter   string        `mapstructure:"datacenter" json:"datacenter"`
	WaitTime     time.Duration `mapstructure:"wait_time" json:"wait_time"`
	AllowStale   bool          `mapstructure:"allow_stale" json:"allow_stale"`
	SnapshotFile string        `mapstructure:"snapshot_file" json:"snapshot_file"`
}

// Protocol values of Upstream.Protocol.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTP2 = "http2"
	ProtocolTCP   = "tcp"
)

// Balancing policies of Upstream.LB.
const (
	LBLeastConn  = "least_conn"
	LBRoundRobin = "round_robin"
	LBRandom     = "random"
	LBIPHash     = "ip_hash"
	LBP2CEWMA    = "p2c_ewma"
)

// Upstream is one dependency the application calls through a local port.
type Upstream struct {
	Name               string         `mapstructure:"name" json:"name"`
	Service            string         `mapstructure:"service" json:"service"`
	Listen             string         `mapstructure:"listen" json:"listen"`
	Protocol           string         `mapstructure:"protocol" json:"protocol"`
	Tags               []string       `mapstructure:"tags" json:"tags"`
	Datacenter         string         `mapstructure:"datacenter" json:"datacenter"`
	Endpoints          []string       `mapstructure:"endpoints" json:"endpoints"`
	LB                 string         `mapstructure:"lb" json:"lb"`
	ConnectTimeout     time.Duration  `mapstructure:"connect_timeout" json:"connect_timeout"`
	Timeout            time.Duration  `mapstructure:"timeout" json:"timeout"`
	IdleTimeout        time.Duration  `mapstructure:"idle_timeout" json:"idle_timeout"`
	MaxIdlePerEndpoint int            `mapstructure:"max_idle_per_endpoint" json:"max_idle_per_endpoint"`
	Retries            Retries        `mapstructure:"retries" json:"retries"`
	Outlier            Outlier        `mapstructure:"outlier" json:"outlier"`
	CircuitBreaker     CircuitBreaker `mapstructure:"circuit_breaker" json:"circuit_breaker"`
	RateLimit          RateLimit      `mapstructure:"rate_limit" json:"rate_limit"`
	// SlowStart is the window over which an endpoint that joins or returns
	// from ejection ramps its share from 10% to 100%; 0 = off.
	SlowStart time.Duration `mapstructure:"slow_start" json:"slow_start"`
	// Health is which Consul instances are used: passing, or
	// passing_or_warning (warning ones only while no passing one is left).
	Health string `mapstructure:"health" json:"health"`
	// Connect: reach the service's mesh-facing proxies over mTLS
	// (docs/connect.md). nil (not in the file): connect.enabled decides.
	Connect *bool `mapstructure:"connect" json:"connect"`
}

// UpstreamConnect reports whether u goes through the mesh: its own
// connect key, else connect.enabled.
func (c *Config) UpstreamConnect(u *Upstream) bool {
	if u.Connect != nil {
		return *u.Connect
	}
	return c.Connect.Enabled
}

// Connect joins Consul's service mesh with the local agent's CA.
type Connect struct {
	Enabled bool `mapstructure:"enabled" json:"enabled"`
	// RegisterProxy: with service.register, also register this sidecar
	// as the service's connect-proxy on inbound.listen.
	RegisterProxy bool `mapstructure:"register_proxy" json:"register_proxy"`
}

// Retries says which failed requests are tried again.
type Retries struct {
	Attempts      int           `mapstructure:"attempts" json:"attempts"`
	PerTryTimeout time.Duration `mapstructure:"per_try_timeout" json:"per_try_timeout"`
	On            []string      `mapstructure:"on" json:"on"`
	BudgetPercent float64       `mapstructure:"budget_percent" json:"budget_percent"`
	MinPerSecond  int           `mapstructure:"min_per_second" json:"min_per_second"`
}

// Outlier configures passive outlier detection (per endpoint).
type Outlier struct {
	Enabled                      bool          `mapstructure:"enabled" json:"enabled"`
	Interval                     time.Duration `mapstructure:"interval" json:"interval"`
	Consecutive5xx               int           `mapstructure:"consecutive_5xx" json:"consecutive_5xx"`
	ConsecutiveLocalFailure      int           `mapstructure:"consecutive_local_failure" json:"consecutive_local_failure"`
	FailurePercentage            float64       `mapstructure:"failure_percentage" json:"failure_percentage"`
	FailurePercentageMinRequests int           `mapstructure:"failure_percentage_min_requests" json:"failure_percentage_min_requests"`
	BaseEjectionTime             time.Duration `mapstructure:"base_ejection_time" json:"base_ejection_time"`
	MaxEjectionTime              time.Duration `mapstructure:"max_ejection_time" json:"max_ejection_time"`
	MaxEjectionPercent           float64       `mapstructure:"max_ejection_percent" json:"max_ejection_percent"`
	// LatencyFactor > 1 ejects an endpoint whose mean latency over the
	// interval is above factor × the median of the others; 0 = off.
	LatencyFactor float64 `mapstructure:"latency_factor" json:"latency_factor"`
}

// CircuitBreaker configures the per-upstream breaker and concurrency cap.
type CircuitBreaker struct {
	MaxRequests      int           `mapstructure:"max_requests" json:"max_requests"`
	FailureRatio     float64       `mapstructure:"failure_ratio" json:"failure_ratio"`
	MinRequests      int           `mapstructure:"min_requests" json:"min_requests"`
	Interval         time.Duration `mapstructure:"interval" json:"interval"`
	OpenTimeout      time.Duration `mapstructure:"open_timeout" json:"open_timeout"`
	HalfOpenRequests int           `mapstructure:"half_open_requests" json:"half_open_requests"`
}

// Tracing configures OpenTelemetry export.
type Tracing struct {
	Exporter    string   `mapstructure:"exporter" json:"exporter"`
	Endpoint    string   `mapstructure:"endpoint" json:"endpoint"`
	Protocol    string   `mapstructure:"protocol" json:"protocol"`
	Insecure    bool     `mapstructure:"insecure" json:"insecure"`
	SampleRatio float64  `mapstructure:"sample_ratio" json:"sample_ratio"`
	Propagators []string `mapstructure:"propagators" json:"propagators"`
}

// Admin configures the admin API listener.
type Admin struct {
	Listen      string `mapstructure:"listen" json:"listen"`
	AllowRemote bool   `mapstructure:"allow_remote" json:"allow_remote"`
	// ProbeListen is an optional second address serving only /healthz and
	// /ready (for Kubernetes and Nomad probes); it may be non-loopback.
	ProbeListen string `mapstructure:"probe_listen" json:"probe_listen"`
}

// Limits protect the sidecar and its other clients from one client or one
// upstream that misbehaves (docs/contract.md, "Limits"). They apply to
// every listener.
type Limits struct {
	// MaxConnections caps the open connections of each listener; further
	// ones wait in the kernel's backlog until one closes.
	MaxConnections int `mapstructure:"max_connections" json:"max_connections"`
	// MaxRequestHeaders caps a request's header lines (431 beyond it).
	MaxRequestHeaders int `mapstructure:"max_request_headers" json:"max_request_headers"`
	// MaxResponseHeaderBytes caps an upstream's response head, interim
	// 1xx heads included (502 upstream_protocol_error beyond it).
	MaxResponseHeaderBytes ByteSize `mapstructure:"max_response_header_bytes" json:"max_response_header_bytes"`
	// MaxInformationalResponses caps the 1xx responses before the final one.
	MaxInformationalResponses int `mapstructure:"max_informational_responses" json:"max_informational_responses"`
	// StreamIdleTimeout ends a request or response that moved no byte in
	// either direction for this long.
	StreamIdleTimeout time.Duration `mapstructure:"stream_idle_timeout" json:"stream_idle_timeout"`
}

// Log configures structured logging.
type Log struct {
	Level  string `mapstructure:"level" json:"level"`
	Format string `mapstructure:"format" json:"format"`
}
