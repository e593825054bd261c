package config

import (
	"slices"
	"strings"
	"testing"
)

// TestDecodeErrors has one row per way a key can be written wrong, with the
// complete error text: nothing more may be reported than the one problem.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unknown top-level key", minimal + "upstream: []\n",
			`test.yaml: upstream: unknown key`},
		{"unknown upstream key", withUpstream("conect_timeout: 1s"),
			`test.yaml: upstreams[0].conect_timeout: unknown key`},
		{"unknown key in second upstream", withUpstream() + "  - name: b\n    listen: 127.0.0.1:9002\n    outlier: {intervall: 5s}\n",
			`test.yaml: upstreams[1].outlier.intervall: unknown key`},
		{"unknown admin key", minimal + "admin: {lisen: 127.0.0.1:9901}\n",
			`test.yaml: admin.lisen: unknown key`},
		{"unknown check key", minimal + "  check: {htp: http://x/}\n",
			`test.yaml: service.check.htp: unknown key`},
		{"key in the wrong case", minimal + "Log: {level: debug}\n",
			`test.yaml: Log: unknown key`},
		{"unknown key with a space", withUpstream(`"conect timeout": 1s`),
			`test.yaml: upstreams[0]."conect timeout": unknown key`},
		{"dotted key is not a path", "service.name: web\n",
			"test.yaml: service.name: required\ntest.yaml: \"service.name\": unknown key"},
		{"bad duration", withUpstream("outlier: {interval: ten}"),
			`test.yaml: upstreams[0].outlier.interval: must be a duration like "10s", got "ten"`},
		{"bare number duration", minimal + "drain_timeout: 20\n",
			`test.yaml: drain_timeout: must be a duration like "10s", got 20 (a bare number has no unit)`},
		{"bare float duration", minimal + "consul: {wait_time: 1.5}\n",
			`test.yaml: consul.wait_time: must be a duration like "10s", got 1.5 (a bare number has no unit)`},
		{"duration as a list", withUpstream("timeout: [1s]"),
			`test.yaml: upstreams[0].timeout: must be a duration like "10s", got a list`},
		{"bad integer", withUpstream("max_idle_per_endpoint: lots"),
			`test.yaml: upstreams[0].max_idle_per_endpoint: must be an integer, got "lots"`},
		{"fractional integer", minimal + "  port: 80.5\n",
			`test.yaml: service.port: must be an integer, got 80.5`},
		{"bad bool", minimal + "admin: {allow_remote: maybe}\n",
			`test.yaml: admin.allow_remote: must be true or false, got "maybe"`},
		{"bad float", minimal + "tracing: {sample_ratio: high}\n",
			`test.yaml: tracing.sample_ratio: must be a number, got "high"`},
		{"NaN float", minimal + "tracing: {sample_ratio: .nan}\n",
			`test.yaml: tracing.sample_ratio: must be a number, got NaN`},
		{"float for a string", "service: {name: 1.5}\n",
			`test.yaml: service.name: must be a string, got 1.5`},
		{"map for a string", "service: {name: {first: web}}\n",
			`test.yaml: service.name: must be a string, got a map`},
		{"scalar for a list", minimal + "  tags: web\n",
			`test.yaml: service.tags: must be a list, got "web"`},
		{"scalar for a section", "service: web\n",
			`test.yaml: service: must be a map, got "web"`},
		{"scalar for the upstream list", minimal + "upstreams: payments\n",
			`test.yaml: upstreams: must be a list, got "payments"`},
		{"scalar for an upstream", minimal + "upstreams: [payments]\n",
			`test.yaml: upstreams[0]: must be a map, got "payments"`},
		{"null list item", minimal + "  tags: [a, null]\n",
			`test.yaml: service.tags[1]: must be a string, got null`},
		{"map as a meta value", minimal + "  meta: {team: {name: x}}\n",
			`test.yaml: service.meta.team: must be a string, got a map`},
		{"float retry condition", withUpstream("retries: {on: [1.5]}"),
			`test.yaml: upstreams[0].retries.on[0]: must be a string, got 1.5`},
		{"long value is cut short", "service: {name: web, port: " + strings.Repeat("x", 100) + "}\n",
			`test.yaml: service.port: must be an integer, got "` + strings.Repeat("x", 64) + `"...`},
		{"top level is a list", "- service\n",
			`test.yaml: yaml: line 1: the file must hold a map of keys at the top level`},
		{"syntax error", "service: [\n",
			`test.yaml: yaml: line 1: did not find expected node content`},
		{"duplicate key", "service: {name: a}\nservice: {name: b}\n",
			`test.yaml: yaml: line 2: mapping key "service" already defined at line 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustFail(t, tt.src).Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestThreeMistakes checks that every problem in a file is reported at once,
// each with its key path, in key order.
func TestThreeMistakes(t *testing.T) {
	src := `
service:
  name: web
upstreams:
  - name: payments
    listen: 127.0.0.1:9001
    conect_timeout: 1s
  - name: users
    listen: 127.0.0.1:9002
    lb: fastest
    outlier:
      interval: ten
`
	errs := mustFail(t, src)
	want := []Problem{
		{"upstreams[0].conect_timeout", "unknown key"},
		{"upstreams[1].lb", `must be one of least_conn|round_robin|random|ip_hash|p2c_ewma, got "fastest"`},
		{"upstreams[1].outlier.interval", `must be a duration like "10s", got "ten"`},
	}
	if !slices.Equal(errs.Problems, want) {
		t.Errorf("problems:\n%v\nwant:\n%v", errs.Problems, want)
	}
	if errs.File != "test.yaml" {
		t.Errorf("File = %q", errs.File)
	}
}

// TestProblemOrder checks that problems come in schema order, whatever order
// the decoder met them in: sections as in docs/contract.md, upstreams by index,
// unknown keys after the known keys of their map.
func TestProblemOrder(t *testing.T) {
	src := `
drain_timeout: 0s
zzz: 1
admin: {listen: "0.0.0.0:9901"}
log: {level: loud}
upstreams:
  - {name: b, listen: "127.0.0.1:9002", lb: x, bogus: 1, connect_timeout: 0s}
  - {name: c, listen: "127.0.0.1:9003", protocol: udp}
service: {port: 70000}
`
	var got []string
	for _, p := range mustFail(t, src).Problems {
		got = append(got, p.Key)
	}
	want := []string{
		"service.name", "service.port",
		"upstreams[0].lb", "upstreams[0].connect_timeout", "upstreams[0].bogus",
		"upstreams[1].protocol",
		"admin.listen", "log.level", "drain_timeout", "zzz",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n%q\nwant:\n%q", got, want)
	}
}

// TestNoFollowOnProblems checks that a key that failed to decode is not
// reported again by validation of the default it kept.
func TestNoFollowOnProblems(t *testing.T) {
	errs := mustFail(t, "service: {name: web, register: true, port: abc}\n")
	want := []Problem{{"service.port", `must be an integer, got "abc"`}}
	if !slices.Equal(errs.Problems, want) {
		t.Errorf("problems = %v, want %v", errs.Problems, want)
	}
}

func TestLenientScalars(t *testing.T) {
	src := withUpstream(
		`max_idle_per_endpoint: "8"`,         // quoted integer
		`timeout: 0`,                         // zero needs no unit
		`retries: {on: [502, "503", reset]}`, // status codes as YAML ints
	) + "  - name: b\n    listen: 127.0.0.1:9002\n    endpoints: null\n" + // null keeps the default
		"service: {name: web, meta: {version: 2, canary: true}}\n"
	src = strings.Replace(src, "service: {name: web}\n", "", 1)
	cfg, _ := mustParse(t, src)
	u := cfg.Upstreams[0]
	if u.MaxIdlePerEndpoint != 8 || u.Timeout != 0 {
		t.Errorf("max_idle_per_endpoint = %d, timeout = %v", u.MaxIdlePerEndpoint, u.Timeout)
	}
	if want := []string{"502", "503", "reset"}; !slices.Equal(u.Retries.On, want) {
		t.Errorf("retries.on = %q, want %q", u.Retries.On, want)
	}
	if cfg.Upstreams[1].Endpoints == nil || len(cfg.Upstreams[1].Endpoints) != 0 {
		t.Errorf("null endpoints = %#v, want the empty default", cfg.Upstreams[1].Endpoints)
	}
	if m := cfg.Service.Meta; m["version"] != "2" || m["canary"] != "true" {
		t.Errorf("meta = %v", m)
	}
}

func TestMetaKeysKeepTheirCase(t *testing.T) {
	cfg, _ := mustParse(t, minimal+"  meta: {Version: v2, team_A: x}\n")
	if cfg.Service.Meta["Version"] != "v2" || cfg.Service.Meta["team_A"] != "x" {
		t.Errorf("meta = %v", cfg.Service.Meta)
	}
}

func TestListReplacesDefault(t *testing.T) {
	cfg, _ := mustParse(t, minimal+"tracing: {propagators: [b3]}\n")
	if want := []string{"b3"}; !slices.Equal(cfg.Tracing.Propagators, want) {
		t.Errorf("propagators = %q, want %q", cfg.Tracing.Propagators, want)
	}
}

// TestYAMLAnchors checks that YAML merge keys work, the usual way to share
// settings between upstreams.
func TestYAMLAnchors(t *testing.T) {
	src := minimal + `
upstreams:
  - &base
    name: a
    listen: 127.0.0.1:9001
    lb: random
    retries: {attempts: 3}
  - <<: *base
    name: b
    listen: 127.0.0.1:9002
`
	cfg, _ := mustParse(t, src)
	b := cfg.Upstreams[1]
	if b.Name != "b" || b.LB != LBRandom || b.Retries.Attempts != 3 || b.Service != "b" {
		t.Errorf("merged upstream = %+v", b)
	}
}
