package config

import (
	"errors"
	"strings"
	"testing"
)

// testHost stands in for os.Hostname so derived service IDs are exact.
const testHost = "host1"

// parseYAML parses src as test.yaml with exactly the given environment (never
// the real one).
func parseYAML(t *testing.T, src string, env ...string) (*Config, []string, error) {
	t.Helper()
	return parse("test.yaml", "yaml", []byte(src), append([]string{}, env...), testHost)
}

// mustParse parses src and fails the test on any problem.
func mustParse(t *testing.T, src string, env ...string) (*Config, []string) {
	t.Helper()
	cfg, warnings, err := parseYAML(t, src, env...)
	if err != nil {
		t.Fatalf("parse failed:\n%v\nsource:\n%s", err, src)
	}
	return cfg, warnings
}

// mustFail parses src and returns the *Errors it must fail with.
func mustFail(t *testing.T, src string, env ...string) *Errors {
	t.Helper()
	cfg, _, err := parseYAML(t, src, env...)
	if err == nil {
		t.Fatalf("parse succeeded, want an error; source:\n%s", src)
	}
	if cfg != nil {
		t.Errorf("parse returned a Config along with an error")
	}
	errs, ok := errors.AsType[*Errors](err)
	if !ok {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	return errs
}

// withUpstream returns a valid file with one upstream "a" whose extra keys
// are the given lines (indented under the list item).
func withUpstream(lines ...string) string {
	var b strings.Builder
	b.WriteString("service: {name: web}\nupstreams:\n  - name: a\n    listen: 127.0.0.1:9001\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// minimal is the smallest valid file: only the required key.
const minimal = "service:\n  name: web\n"
