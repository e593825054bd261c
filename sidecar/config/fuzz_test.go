package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to Parse. Whatever the input, Parse must not
// panic, and must either return a Config that is valid (and renders as JSON)
// or a non-empty *Errors whose every line starts with the file name.
//
//	go test -run '^$' -fuzz FuzzParse -fuzzminimizetime 2s ./sidecar/config/
//
// (With the default minimize time of 60s the progress line sits at 0
// execs/sec while each new interesting input is minimized; that is the
// engine, not a hang.)
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		minimal,
		withUpstream("endpoints: ['a:1', 'b:1']", "outlier: {max_ejection_percent: 10}"),
		withUpstream("conect_timeout: 1s", "outlier: {interval: ten}", "lb: fastest"),
		"service: {name: web, port: 8080, register: true}\ninbound: {listen: '0.0.0.0:0'}\n",
		"upstreams: [{name: a, retries: {on: [502, 1.5, null]}}]\n",
		"service:\n  meta: {1: x, \"a\\nb\": y}\n",
		"a: &a [*a]\n",
		"- x\n",
		"service: [\n",
		"tracing: {sample_ratio: .nan}\nconsul: {wait_time: 9223372036854775807}\n",
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(data)
	}

	const file = "fuzz.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := parse(file, "yaml", data, []string{}, testHost)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil Config and nil error")
			}
			if p := cfg.Validate(); p != nil {
				t.Fatalf("Parse accepted a config that Validate rejects: %v", p)
			}
			if _, err := cfg.JSON(); err != nil {
				t.Fatalf("JSON() of a valid config: %v", err)
			}
			return
		}
		errs, ok := errors.AsType[*Errors](err)
		if !ok {
			t.Fatalf("error is %T, want *Errors: %v", err, err)
		}
		if len(errs.Problems) == 0 {
			t.Fatal("*Errors without problems")
		}
		for line := range strings.SplitSeq(err.Error(), "\n") {
			if !strings.HasPrefix(line, file+": ") {
				t.Fatalf("line does not start with the file name: %q", line)
			}
		}
	})
}
