package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEnvPrecedence checks OUTRIGGER_* > standard variables > file > defaults.
func TestEnvPrecedence(t *testing.T) {
	file := `
service: {name: web}
consul: {address: "file:8500", token: file-token}
tracing: {sample_ratio: 0.1}
log: {level: debug}
`
	tests := []struct {
		name  string
		src   string
		env   []string
		check func(c *Config) bool
	}{
		{"default", minimal, nil,
			func(c *Config) bool { return c.Log.Level == "info" }},
		{"file beats default", file, nil,
			func(c *Config) bool { return c.Log.Level == "debug" && c.Consul.Address == "file:8500" }},
		{"OUTRIGGER_ beats file", file, []string{"OUTRIGGER_LOG_LEVEL=warn"},
			func(c *Config) bool { return c.Log.Level == "warn" }},
		{"CONSUL_HTTP_ADDR beats file", file, []string{"CONSUL_HTTP_ADDR=10.0.0.1:8500"},
			func(c *Config) bool { return c.Consul.Address == "10.0.0.1:8500" && c.Consul.Scheme == "http" }},
		{"CONSUL_HTTP_ADDR scheme sets consul.scheme", file, []string{"CONSUL_HTTP_ADDR=https://consul:8501"},
			func(c *Config) bool { return c.Consul.Address == "consul:8501" && c.Consul.Scheme == "https" }},
		{"OUTRIGGER_ beats CONSUL_HTTP_ADDR", file, []string{"CONSUL_HTTP_ADDR=https://consul:8501", "OUTRIGGER_CONSUL_ADDRESS=own:8500", "OUTRIGGER_CONSUL_SCHEME=http"},
			func(c *Config) bool { return c.Consul.Address == "own:8500" && c.Consul.Scheme == "http" }},
		{"CONSUL_HTTP_TOKEN beats file", file, []string{"CONSUL_HTTP_TOKEN=env-token"},
			func(c *Config) bool { return c.Consul.Token == "env-token" }},
		{"OUTRIGGER_ beats CONSUL_HTTP_TOKEN", file, []string{"OUTRIGGER_CONSUL_TOKEN=own", "CONSUL_HTTP_TOKEN=env-token"},
			func(c *Config) bool { return c.Consul.Token == "own" }},
		{"OTLP endpoint turns on otlp", minimal, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://collector:4317"},
			func(c *Config) bool {
				return c.Tracing.Exporter == "otlp" && c.Tracing.Endpoint == "collector:4317" && !c.Tracing.Insecure
			}},
		{"OTLP endpoint over http is insecure", minimal + "tracing: {insecure: false}\n", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318"},
			func(c *Config) bool { return c.Tracing.Endpoint == "collector:4318" && c.Tracing.Insecure }},
		{"OTLP endpoint without scheme keeps insecure", minimal, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317"},
			func(c *Config) bool { return c.Tracing.Endpoint == "collector:4317" && c.Tracing.Insecure }},
		{"OUTRIGGER_ beats OTLP endpoint", minimal, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317", "OUTRIGGER_TRACING_EXPORTER=none"},
			func(c *Config) bool { return c.Tracing.Exporter == "none" && c.Tracing.Endpoint == "collector:4317" }},
		{"sampler arg beats file", file, []string{"OTEL_TRACES_SAMPLER_ARG=0.25"},
			func(c *Config) bool { return c.Tracing.SampleRatio == 0.25 }},
		{"OUTRIGGER_ beats sampler arg", file, []string{"OTEL_TRACES_SAMPLER_ARG=0.25", "OUTRIGGER_TRACING_SAMPLE_RATIO=0.5"},
			func(c *Config) bool { return c.Tracing.SampleRatio == 0.5 }},
		{"OTEL_SERVICE_NAME is not a config key", minimal, []string{"OTEL_SERVICE_NAME=other"},
			func(c *Config) bool { return c.Service.Name == "web" }},
		{"empty variable counts as unset", file, []string{"OUTRIGGER_LOG_LEVEL=", "CONSUL_HTTP_TOKEN="},
			func(c *Config) bool { return c.Log.Level == "debug" && c.Consul.Token == "file-token" }},
		{"first duplicate wins", file, []string{"OUTRIGGER_LOG_LEVEL=error", "OUTRIGGER_LOG_LEVEL=warn"},
			func(c *Config) bool { return c.Log.Level == "error" }},
		{"every kind of scalar", "", []string{
			"OUTRIGGER_SERVICE_NAME=api", "OUTRIGGER_SERVICE_PORT=8080", "OUTRIGGER_SERVICE_REGISTER=true",
			"OUTRIGGER_SERVICE_CHECK_INTERVAL=5s", "OUTRIGGER_CONSUL_WAIT_TIME=1m", "OUTRIGGER_CONSUL_ALLOW_STALE=false",
			"OUTRIGGER_DRAIN_TIMEOUT=5s", "OUTRIGGER_ADMIN_LISTEN=0.0.0.0:9902", "OUTRIGGER_ADMIN_ALLOW_REMOTE=true",
			"OUTRIGGER_INBOUND_LISTEN=0.0.0.0:21000",
		}, func(c *Config) bool {
			return c.Service.Name == "api" && c.Service.Port == 8080 && c.Service.Register &&
				c.Service.Check.Interval == 5*time.Second && c.Consul.WaitTime == time.Minute && !c.Consul.AllowStale &&
				c.DrainTimeout == 5*time.Second && c.Admin == Admin{Listen: "0.0.0.0:9902", AllowRemote: true} &&
				c.Inbound.Listen == "0.0.0.0:21000" &&
				c.Service.ID == "api-host1-21000" // derived after the environment
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustParse(t, tt.src, tt.env...)
			if !tt.check(cfg) {
				got, _ := cfg.JSON()
				t.Errorf("unexpected config:\n%s", got)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"OUTRIGGER_DRAIN_TIMEOUT=x",
			`test.yaml: OUTRIGGER_DRAIN_TIMEOUT (drain_timeout): must be a duration like "10s", got "x"`},
		{"OUTRIGGER_SERVICE_PORT=http",
			`test.yaml: OUTRIGGER_SERVICE_PORT (service.port): must be an integer, got "http"`},
		{"OUTRIGGER_ADMIN_ALLOW_REMOTE=maybe",
			`test.yaml: OUTRIGGER_ADMIN_ALLOW_REMOTE (admin.allow_remote): must be true or false, got "maybe"`},
		{"OUTRIGGER_TRACING_SAMPLE_RATIO=most",
			`test.yaml: OUTRIGGER_TRACING_SAMPLE_RATIO (tracing.sample_ratio): must be a number, got "most"`},
		// A value that parses but fails validation names its variable too.
		{"OUTRIGGER_LOG_LEVEL=verbose",
			`test.yaml: OUTRIGGER_LOG_LEVEL (log.level): must be one of debug|info|warn|error, got "verbose"`},
		{"OUTRIGGER_ADMIN_LISTEN=0.0.0.0:9901",
			`test.yaml: OUTRIGGER_ADMIN_LISTEN (admin.listen): "0.0.0.0:9901" is not a loopback address; set admin.allow_remote: true to expose the admin API`},
		{"OTEL_TRACES_SAMPLER_ARG=x",
			`test.yaml: OTEL_TRACES_SAMPLER_ARG (tracing.sample_ratio): must be a number in [0, 1], got "x"`},
		{"OTEL_TRACES_SAMPLER_ARG=2",
			`test.yaml: OTEL_TRACES_SAMPLER_ARG (tracing.sample_ratio): must be in [0, 1], got 2`},
		{"CONSUL_HTTP_ADDR=unix:///var/run/consul.sock",
			`test.yaml: CONSUL_HTTP_ADDR (consul.address): must be host:port or http(s)://host:port, got "unix:///var/run/consul.sock"`},
		{"CONSUL_HTTP_ADDR=grpc://consul:8502",
			`test.yaml: CONSUL_HTTP_ADDR (consul.address): scheme must be http or https, got "grpc://consul:8502"`},
		{"CONSUL_HTTP_ADDR=consul:http",
			`test.yaml: CONSUL_HTTP_ADDR (consul.address): must be host:port with a port in 1..65535, got "consul:http"`},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=collector",
			`test.yaml: OTEL_EXPORTER_OTLP_ENDPOINT (tracing.endpoint): must be host:port with a port in 1..65535, got "collector"`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			if got := mustFail(t, minimal, tt.env).Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestEnvAndFileProblemsTogether checks that a bad file value and a bad
// variable are both reported.
func TestEnvAndFileProblemsTogether(t *testing.T) {
	errs := mustFail(t, minimal+"drain_timeout: soon\n", "OUTRIGGER_DRAIN_TIMEOUT=later")
	want := []Problem{
		{"drain_timeout", `must be a duration like "10s", got "soon"`},
		{"OUTRIGGER_DRAIN_TIMEOUT (drain_timeout)", `must be a duration like "10s", got "later"`},
	}
	if !slices.Equal(errs.Problems, want) {
		t.Errorf("problems = %v, want %v", errs.Problems, want)
	}
}

func TestEnvWarnings(t *testing.T) {
	env := []string{
		"OUTRIGGER_CONFIG=/etc/outrigger.yaml", // the -c default, not a key
		"OUTRIGGER_ADMIN_LISTN=127.0.0.1:9902",
		"OUTRIGGER_SERVICE_TAGS=a,b",
		"OUTRIGGER_UPSTREAMS_0_LB=random",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/custom",
		"PATH=/usr/bin",
	}
	_, warnings := mustParse(t, minimal, env...)
	want := []string{
		`OTEL_EXPORTER_OTLP_ENDPOINT: the path "/custom" is ignored; tracing.endpoint is host:port and the exporter adds the standard path`,
		"OUTRIGGER_ADMIN_LISTN: no config key matches this variable; ignored",
		"OUTRIGGER_SERVICE_TAGS: service.tags is a list, which cannot be set from the environment; ignored",
		"OUTRIGGER_UPSTREAMS_0_LB: upstreams cannot be set from the environment; ignored",
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", warnings, want)
	}

	// Warnings come back with errors too: they may explain the error.
	_, warnings, err := parseYAML(t, "", "OUTRIGGER_SERVICE_NAM=web")
	if err == nil || !slices.Equal(warnings, []string{"OUTRIGGER_SERVICE_NAM: no config key matches this variable; ignored"}) {
		t.Errorf("err = %v, warnings = %q", err, warnings)
	}
}

// TestEnvKeys checks the variable table: every scalar key outside the
// upstream list has a variable, names are unique, and none is a list.
func TestEnvKeys(t *testing.T) {
	scalars, lists := envKeys()
	for _, name := range []string{
		"OUTRIGGER_ADMIN_LISTEN", "OUTRIGGER_ADMIN_ALLOW_REMOTE", "OUTRIGGER_LOG_LEVEL", "OUTRIGGER_LOG_FORMAT",
		"OUTRIGGER_CONSUL_WAIT_TIME", "OUTRIGGER_CONSUL_SNAPSHOT_FILE", "OUTRIGGER_DRAIN_TIMEOUT",
		"OUTRIGGER_SERVICE_NAME", "OUTRIGGER_SERVICE_CHECK_DEREGISTER_CRITICAL_AFTER", "OUTRIGGER_TRACING_PROTOCOL",
		"OUTRIGGER_INBOUND_LISTEN",
	} {
		if _, ok := scalars[name]; !ok {
			t.Errorf("no variable %s", name)
		}
	}
	// service 5 scalars + 4 check, inbound 1 + rate_limit 2, consul 7, tracing 5, admin 3, log 2,
	// limits 5, connect 2, access_log 3, drain 1
	if len(scalars) != 40 {
		t.Errorf("%d scalar variables, want 40", len(scalars))
	}
	for name := range scalars {
		if strings.Contains(name, "UPSTREAMS") {
			t.Errorf("%s: upstream items must not be addressable", name)
		}
		if _, dup := lists[name]; dup {
			t.Errorf("%s is both a scalar and a list", name)
		}
	}
	if want := map[string]string{
		"OUTRIGGER_SERVICE_TAGS": "service.tags", "OUTRIGGER_SERVICE_META": "service.meta",
		"OUTRIGGER_UPSTREAMS": "upstreams", "OUTRIGGER_LISTENERS": "listeners", "OUTRIGGER_TRACING_PROPAGATORS": "tracing.propagators",
	}; !maps.Equal(lists, want) {
		t.Errorf("lists = %v, want %v", lists, want)
	}
}

// TestParseEnvironment checks that Parse reads the process environment only
// when env is nil. Not parallel: it sets process variables.
func TestParseEnvironment(t *testing.T) {
	t.Setenv("OUTRIGGER_LOG_LEVEL", "debug")
	cfg, _, err := Parse("test.yaml", "yaml", []byte(minimal), []string{})
	if err != nil || cfg.Log.Level != "info" {
		t.Errorf("with an empty env: level %q, err %v; want info", cfg.Log.Level, err)
	}
	cfg, _, err = Parse("test.yaml", "yaml", []byte(minimal), nil)
	if err != nil || cfg.Log.Level != "debug" {
		t.Errorf("with env nil: level %q, err %v; want debug", cfg.Log.Level, err)
	}
}
