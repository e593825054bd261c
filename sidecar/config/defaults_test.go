package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// flatten renders a config's JSON as key path → value text, so defaults can
// be compared with the contract key by key.
func flatten(t *testing.T, c *Config) map[string]string {
	t.Helper()
	b, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, x := range m {
				walk(child(path, k), x)
			}
			return
		}
		out[path] = fmt.Sprint(v)
	}
	walk("", tree)
	return out
}

// TestDefaultsMatchSpec lists every key with its documented default
// (docs/contract.md).
func TestDefaultsMatchSpec(t *testing.T) {
	cfg := Default()
	u := DefaultUpstream()
	cfg.Upstreams = []Upstream{u}
	got := flatten(t, &cfg)
	want := map[string]string{
		"service.name": "", "service.id": "", "service.address": "127.0.0.1", "service.port": "0",
		"service.tags": "[]", "service.meta": "map[]", "service.register": "false",
		"service.check.http": "", "service.check.interval": "10s", "service.check.timeout": "2s",
		"service.check.deregister_critical_after": "1m0s",
		"inbound.listen": "", "inbound.rate_limit.requests_per_second": "0", "inbound.rate_limit.burst": "0",
		"consul.address": "127.0.0.1:8500", "consul.scheme": "http", "consul.token": "", "consul.datacenter": "",
		"consul.wait_time": "5m0s", "consul.allow_stale": "true", "consul.snapshot_file": "",
		"upstreams": "[map[circuit_breaker:map[failure_ratio:0.5 half_open_requests:5 interval:10s max_requests:1024 min_requests:20 open_timeout:30s] " +
			"connect:<nil> connect_timeout:1s datacenter: endpoints:[] health:passing idle_timeout:1m30s lb:least_conn listen: max_idle_per_endpoint:64 name: " +
			"outlier:map[base_ejection_time:30s consecutive_5xx:5 consecutive_local_failure:5 enabled:true failure_percentage:0 failure_percentage_min_requests:50 interval:10s latency_factor:0 max_ejection_percent:50 max_ejection_time:5m0s] " +
			"protocol:http rate_limit:map[burst:0 requests_per_second:0] retries:map[attempts:1 budget_percent:20 min_per_second:10 on:[connect_failure reset 502 503 504] per_try_timeout:0s] service: slow_start:0s tags:[] timeout:30s]]",
		"tracing.exporter": "none", "tracing.endpoint": "127.0.0.1:4317", "tracing.protocol": "grpc",
		"tracing.insecure": "true", "tracing.sample_ratio": "1", "tracing.propagators": "[tracecontext baggage]",
		"admin.listen": "127.0.0.1:9901", "admin.allow_remote": "false", "admin.probe_listen": "",
		"access_log.enabled": "false", "access_log.path": "stdout", "access_log.format": "json",
		"log.level": "info", "log.format": "text",
		"limits.max_connections": "10000", "limits.max_request_headers": "100",
		"limits.max_response_header_bytes": "64KiB", "limits.max_informational_responses": "10",
		"limits.stream_idle_timeout": "5m0s",
		"drain_timeout":              "20s",
		"listeners":                  "[]",
		"connect.enabled":            "false",
		"connect.register_proxy":     "true",
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s = %s, want %s", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("keys %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// TestFullYAML loads the contract's reference block (testdata/full.yaml, every key at its
// default) and checks that it equals the defaults, and a minimal file.
func TestFullYAML(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := parse("testdata/full.yaml", "yaml", data, []string{}, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}

	want := Default()
	want.File = "testdata/full.yaml"
	want.Service.Name = "web"
	want.Service.ID = "web-host1-0"
	u := DefaultUpstream()
	u.Name, u.Service, u.Listen = "payments", "payments", "127.0.0.1:9001"
	want.Upstreams = []Upstream{u}
	want.Listeners = []Listener{{Name: "edge", Listen: "127.0.0.1:8080", Protocol: "http", Routes: []Route{{
		Name:     "api",
		Match:    Match{Host: "payments.example.com", PathPrefix: "/api/", Headers: map[string]string{"x-canary": "1"}, Methods: []string{"GET"}},
		Upstream: "payments",
	}, {
		Name: "rest", Match: Match{PathPrefix: "/"}, Split: []SplitTarget{{Upstream: "payments", Weight: 1}},
	}}}}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("full.yaml:\n%+v\nwant:\n%+v", *cfg, want)
	}

	short, _ := mustParse(t, minimal+"upstreams: [{name: payments, listen: '127.0.0.1:9001'}]\n"+
		"listeners: [{name: edge, listen: '127.0.0.1:8080', routes: [{name: api, upstream: payments,\n"+
		"  match: {host: payments.example.com, path_prefix: /api/, headers: {x-canary: '1'}, methods: [GET]}},\n"+
		"  {name: rest, match: {path_prefix: /}, split: [{upstream: payments, weight: 1}]}]}]\n")
	short.File = cfg.File
	if !reflect.DeepEqual(short, cfg) {
		t.Errorf("a minimal file differs from full.yaml:\n%+v\n%+v", *short, *cfg)
	}

	// full.yaml must hold every key, so it stays the complete reference.
	raw, issues := decodeFile("yaml", data)
	if issues != nil {
		t.Fatal(issues)
	}
	for _, missing := range missingKeys("", raw, reflect.TypeFor[Config]()) {
		t.Errorf("full.yaml lacks %s", missing)
	}
}

// missingKeys lists the schema keys absent from raw; in a list, a key
// counts as present when one item has it (a route has upstream or split).
func missingKeys(path string, raw any, t reflect.Type) []string {
	m, _ := raw.(map[string]any)
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "-" {
			continue
		}
		v, ok := m[tag]
		if !ok {
			out = append(out, child(path, tag))
			continue
		}
		switch {
		case isDuration(f.Type):
		case f.Type.Kind() == reflect.Struct:
			out = append(out, missingKeys(child(path, tag), v, f.Type)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			list, _ := v.([]any)
			if len(list) == 0 {
				out = append(out, child(path, tag)+"[0]")
				continue
			}
			missing := map[string]int{}
			for i, item := range list {
				for _, k := range missingKeys(index(child(path, tag), i), item, f.Type.Elem()) {
					missing[strings.Replace(k, index(child(path, tag), i), index(child(path, tag), 0), 1)]++
				}
			}
			for _, k := range slices.Sorted(maps.Keys(missing)) {
				if missing[k] == len(list) {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name, src, wantID string
	}{
		{"no port", minimal, "web-host1-0"},
		{"app port", "service: {name: web, port: 8080}\n", "web-host1-8080"},
		{"inbound port is the registered one", "service: {name: web, port: 8080}\ninbound: {listen: '0.0.0.0:21000'}\n", "web-host1-21000"},
		{"inbound on port 0", "service: {name: web, port: 8080}\ninbound: {listen: '0.0.0.0:0'}\n", "web-host1-8080"},
		{"explicit id", "service: {name: web, id: web-1}\n", "web-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustParse(t, tt.src)
			if cfg.Service.ID != tt.wantID {
				t.Errorf("service.id = %q, want %q", cfg.Service.ID, tt.wantID)
			}
		})
	}

	cfg, _ := mustParse(t, minimal+"upstreams:\n  - {name: a, listen: '127.0.0.1:9001'}\n  - {name: b, service: b-v2, listen: '127.0.0.1:9002'}\n")
	if cfg.Upstreams[0].Service != "a" || cfg.Upstreams[1].Service != "b-v2" {
		t.Errorf("upstream services = %q, %q", cfg.Upstreams[0].Service, cfg.Upstreams[1].Service)
	}
}

// TestDefaultIsFresh checks that callers cannot change each other's defaults
// through a shared slice or map.
func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Tracing.Propagators[0] = "b3"
	a.Service.Meta["x"] = "y"
	u := DefaultUpstream()
	u.Retries.On[0] = "timeout"
	b := Default()
	if b.Tracing.Propagators[0] != "tracecontext" || len(b.Service.Meta) != 0 || DefaultUpstream().Retries.On[0] != "connect_failure" {
		t.Error("Default or DefaultUpstream shares state between calls")
	}
}
