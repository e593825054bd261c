package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"defaults warn of nothing", nil, nil},
		{"max ejection percent too small", []string{"endpoints: ['a:1', 'b:1', 'c:1']", "outlier: {max_ejection_percent: 10}"},
			[]string{"upstreams[0].outlier.max_ejection_percent: 10% of 3 endpoints ejects none; at least one host is always ejectable"}},
		{"fractional percent", []string{"endpoints: ['a:1', 'b:1']", "outlier: {max_ejection_percent: 40.5}"},
			[]string{"upstreams[0].outlier.max_ejection_percent: 40.5% of 2 endpoints ejects none; at least one host is always ejectable"}},
		{"percent that ejects one", []string{"endpoints: ['a:1', 'b:1']", "outlier: {max_ejection_percent: 50}"}, nil},
		{"a single endpoint is never ejected", []string{"endpoints: ['a:1']", "outlier: {max_ejection_percent: 10}"}, nil},
		{"consul endpoints are not countable", []string{"outlier: {max_ejection_percent: 10}"}, nil},
		{"disabled outlier", []string{"endpoints: ['a:1', 'b:1', 'c:1']", "outlier: {enabled: false, max_ejection_percent: 10}"}, nil},
		{"no detector", []string{"outlier: {consecutive_5xx: 0, consecutive_local_failure: 0}"},
			[]string{"upstreams[0].outlier.enabled: true, but consecutive_5xx, consecutive_local_failure, failure_percentage and latency_factor are all 0, so nothing is ever ejected"}},
		{"per-try timeout not shorter", []string{"timeout: 5s", "retries: {per_try_timeout: 5s}"},
			[]string{"upstreams[0].retries.per_try_timeout: 5s is not shorter than timeout (5s), so the per-try timeout never fires first"}},
		{"per-try timeout without overall timeout", []string{"timeout: 0s", "retries: {per_try_timeout: 5s}"}, nil},
		{"retries with nothing to retry", []string{"retries: {attempts: 2, on: []}"},
			[]string{"upstreams[0].retries.on: empty, so the 2 retry attempt(s) never happen; list the failures to retry or set attempts: 0"}},
		{"retries disabled", []string{"retries: {attempts: 0, on: []}"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings := mustParse(t, withUpstream(tt.lines...))
			if !slices.Equal(warnings, tt.want) {
				t.Errorf("Parse warnings:\n%q\nwant:\n%q", warnings, tt.want)
			}
			if got := cfg.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("Warnings():\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

// TestWarningsOrder checks that warnings come upstream by upstream, and the
// environment's after the config's.
func TestWarningsOrder(t *testing.T) {
	src := withUpstream("timeout: 1s", "retries: {per_try_timeout: 2s, on: []}") +
		"  - {name: b, listen: '127.0.0.1:9002', endpoints: ['a:1', 'b:1', 'c:1'], outlier: {max_ejection_percent: 1}}\n"
	_, warnings := mustParse(t, src, "OUTRIGGER_X=1")
	want := []string{
		"upstreams[0].retries.on: empty, so the 1 retry attempt(s) never happen; list the failures to retry or set attempts: 0",
		"upstreams[0].retries.per_try_timeout: 2s is not shorter than timeout (1s), so the per-try timeout never fires first",
		"upstreams[1].outlier.max_ejection_percent: 1% of 3 endpoints ejects none; at least one host is always ejectable",
		"OUTRIGGER_X: no config key matches this variable; ignored",
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", warnings, want)
	}
}

func TestResilienceWarnings(t *testing.T) {
	u := DefaultUpstream()
	u.Name, u.Listen = "payments", "127.0.0.1:9001"
	u.Outlier.Interval = time.Minute // > base_ejection_time 30s
	u.CircuitBreaker.MaxRequests = 10
	u.CircuitBreaker.MinRequests = 20 // 10 × max(1, 10s/30s) = 10 < 20
	c := Default()
	c.Service.Name = "web"
	c.Upstreams = []Upstream{u}
	got := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{
		"upstreams[0].outlier.interval: 1m0s is longer than base_ejection_time (30s)",
		"upstreams[0].circuit_breaker.min_requests: 20 is more than the 10 requests that can finish in one interval (10s) when every request hangs for timeout (30s) with max_requests 10",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	d := DefaultUpstream()
	d.Name, d.Listen = "payments", "127.0.0.1:9001"
	c.Upstreams = []Upstream{d}
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("defaults warn: %v", w)
	}
}

func TestConnectWithoutInboundWarns(t *testing.T) {
	_, warnings := mustParse(t, "connect: {enabled: true}\nservice: {name: web, register: true, port: 8080}\n")
	want := "connect.enabled: true without inbound.listen: this service accepts no mesh traffic (only its upstreams use mTLS), and no connect-proxy is registered for it"
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("warnings %q, want [%q]", warnings, want)
	}
}
