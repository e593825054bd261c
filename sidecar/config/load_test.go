package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// custom is what testdata/custom.{yaml,toml,json} hold.
func custom(file string) Config {
	c := Default()
	c.File = file
	c.Service = Service{
		Name: "web", ID: "web-host1-21000", Address: "10.0.0.7", Port: 8080,
		Tags: []string{"v2", "canary"}, Meta: map[string]string{"version": "2.1", "team": "checkout"},
		Register: true,
		Check: Check{
			HTTP: "http://10.0.0.7:8080/health", Interval: 5 * time.Second, Timeout: time.Second,
			DeregisterCriticalAfter: 10 * time.Minute,
		},
	}
	c.Inbound.Listen = "0.0.0.0:21000"
	c.Consul = Consul{
		Address: "consul.internal:8501", Scheme: "https", Token: "s3cret", Datacenter: "eu1",
		WaitTime: 2 * time.Minute, AllowStale: false, SnapshotFile: "/var/lib/outrigger/snapshot.json",
	}
	p := DefaultUpstream()
	p.Name, p.Service, p.Listen, p.Protocol = "payments", "payments", "127.0.0.1:9001", ProtocolHTTP2
	p.Tags, p.Datacenter, p.LB = []string{"primary"}, "eu2", LBP2CEWMA
	p.ConnectTimeout, p.Timeout, p.IdleTimeout, p.MaxIdlePerEndpoint = 250*time.Millisecond, 10*time.Second, time.Minute, 16
	p.Retries = Retries{Attempts: 2, PerTryTimeout: 3 * time.Second, On: []string{"connect_failure", "503"}, BudgetPercent: 10.5, MinPerSecond: 3}
	p.Outlier = Outlier{
		Enabled: true, Interval: 5 * time.Second, Consecutive5xx: 3, ConsecutiveLocalFailure: 0,
		FailurePercentage: 80, FailurePercentageMinRequests: 20, BaseEjectionTime: 15 * time.Second,
		MaxEjectionTime: 2 * time.Minute, MaxEjectionPercent: 34,
	}
	p.CircuitBreaker = CircuitBreaker{
		MaxRequests: 100, FailureRatio: 0.25, MinRequests: 10, Interval: 30 * time.Second,
		OpenTimeout: time.Minute, HalfOpenRequests: 2,
	}
	u := DefaultUpstream()
	u.Name, u.Service, u.Listen, u.Protocol, u.LB = "users", "users-v2", "127.0.0.1:9002", ProtocolTCP, LBRoundRobin
	u.Endpoints = []string{"10.0.1.1:7000", "10.0.1.2:7000", "10.0.1.3:7000"}
	u.Outlier.Enabled = false
	c.Upstreams = []Upstream{p, u}
	c.Tracing = Tracing{
		Exporter: "otlp", Endpoint: "collector:4318", Protocol: "http/protobuf", Insecure: false,
		SampleRatio: 0.05, Propagators: []string{"tracecontext", "b3"},
	}
	c.Admin = Admin{Listen: "0.0.0.0:9901", AllowRemote: true}
	c.Log = Log{Level: "debug", Format: "json"}
	c.DrainTimeout = 45 * time.Second
	return c
}

// TestFormats checks that the YAML, TOML and JSON spellings of one config
// load to the same Config, with every value read.
func TestFormats(t *testing.T) {
	for _, name := range []string{"custom.yaml", "custom.toml", "custom.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			format, _ := formatOf(path)
			cfg, warnings, err := parse(path, format, data, []string{}, testHost)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if want := custom(path); !reflect.DeepEqual(*cfg, want) {
				t.Errorf("got:\n%+v\nwant:\n%+v", *cfg, want)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	tests := []struct {
		format, src, want string
	}{
		{"toml", "[service]\nname = 'web'\nport = 'x'\n", `c.toml: service.port: must be an integer, got "x"`},
		{"toml", "[service]\nname = 'web'\n[[upstreams]]\nname = 'a'\nlisten = '127.0.0.1:9001'\nconect_timeout = '1s'\n",
			`c.toml: upstreams[0].conect_timeout: unknown key`},
		{"toml", "[service\n", `c.toml: toml: line 1: expected character ]`},
		{"toml", "[service]\nport = 1979-05-27T07:32:00Z\nname = 'w'\n", `c.toml: service.port: must be an integer, got "1979-05-27 07:32:00 +0000 UTC"`},
		{"json", `{"service": {"name": "web"}, "drain_timeout": 20}`, `c.json: drain_timeout: must be a duration like "10s", got 20 (a bare number has no unit)`},
		{"json", `{"service": {"name": "web", "port": 8080.5}}`, `c.json: service.port: must be an integer, got 8080.5`},
		{"json", "{\n\"service\": \n}", `c.json: json: line 3: invalid character '}' looking for beginning of value`},
		{"json", `["service"]`, `c.json: json: the file must hold an object of keys at the top level`},
		{"ini", "x=1", `c.ini: unsupported format "ini"; use yaml, toml or json`},
	}
	for _, tt := range tests {
		_, _, err := parse("c."+tt.format, tt.format, []byte(tt.src), []string{}, testHost)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s %q:\ngot  %v\nwant %s", tt.format, tt.src, err, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	for _, name := range []string{"a.yaml", "b.yml", "C.YAML"} {
		p := write(name, minimal)
		cfg, _, err := Load(p)
		if err != nil || cfg.Service.Name != "web" || cfg.File != p {
			t.Errorf("Load(%s) = %+v, %v", name, cfg, err)
		}
	}
	cfg, _, err := Load(write("c.json", `{"service": {"name": "web"}}`))
	if err != nil || cfg.Service.Name != "web" {
		t.Errorf("Load(c.json) = %v", err)
	}

	tests := []struct {
		path, want string
	}{
		{write("outrigger.conf", minimal), filepath.Join(dir, "outrigger.conf") + `: unsupported file extension ".conf"; use .yaml, .yml, .toml or .json`},
		{write("outrigger", minimal), filepath.Join(dir, "outrigger") + ": no file extension to tell the format by; use .yaml, .yml, .toml or .json"},
		{filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "missing.yaml") + ": cannot read: no such file or directory"},
		{write("bad.yaml", "service: {name: web}\nlog: {level: loud}\n"), filepath.Join(dir, "bad.yaml") + `: log.level: must be one of debug|info|warn|error, got "loud"`},
	}
	for _, tt := range tests {
		cfg, _, err := Load(tt.path)
		if cfg != nil || err == nil || err.Error() != tt.want {
			t.Errorf("Load(%s) = %v\nwant %s", tt.path, err, tt.want)
		}
		if _, ok := errors.AsType[*Errors](err); !ok {
			t.Errorf("Load(%s) error is %T, want *Errors", tt.path, err)
		}
	}
}

func TestResolvePath(t *testing.T) {
	t.Setenv("OUTRIGGER_CONFIG", "")
	if got := ResolvePath(""); got != "./outrigger.yaml" {
		t.Errorf("ResolvePath(\"\") = %q", got)
	}
	t.Setenv("OUTRIGGER_CONFIG", "/etc/outrigger/env.yaml")
	if got := ResolvePath(""); got != "/etc/outrigger/env.yaml" {
		t.Errorf("with $OUTRIGGER_CONFIG: %q", got)
	}
	if got := ResolvePath("flag.toml"); got != "flag.toml" {
		t.Errorf("with a flag: %q", got)
	}
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{File: "f.yaml", Problems: []Problem{
		{"a.b", "bad"},
		{"", "whole file"},
		{"c", "two\nlines"},
	}}
	want := "f.yaml: a.b: bad\nf.yaml: whole file\nf.yaml: c: two\\nlines"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}
