package config

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func loadCustom(t *testing.T) *Config {
	t.Helper()
	data, err := os.ReadFile("testdata/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := parse("testdata/custom.yaml", "yaml", data, []string{}, testHost)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestJSONRedactsToken(t *testing.T) {
	cfg := loadCustom(t)
	out, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("s3cret")) {
		t.Errorf("the token leaks:\n%s", out)
	}
	if !bytes.Contains(out, []byte(`"token": "<redacted>"`)) {
		t.Errorf("no redacted token:\n%s", out)
	}
	if cfg.Consul.Token != "s3cret" {
		t.Errorf("JSON changed the config's token to %q", cfg.Consul.Token)
	}

	cfg.Consul.Token = ""
	out, _ = cfg.JSON()
	if !bytes.Contains(out, []byte(`"token": ""`)) {
		t.Errorf("an empty token must show as empty:\n%s", out)
	}
}

func TestJSONShape(t *testing.T) {
	cfg := loadCustom(t)
	out, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"wait_time": "2m0s"`, `"connect_timeout": "250ms"`, `"per_try_timeout": "3s"`, `"drain_timeout": "45s"`,
		`"deregister_critical_after": "10m0s"`, `"budget_percent": 10.5`, `"on": [`, `"meta": {`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte(`"File"`)) || bytes.Contains(out, []byte("testdata")) {
		t.Errorf("the file path is not part of the config:\n%s", out)
	}

	// Keys in schema order, not sorted.
	dec := json.NewDecoder(bytes.NewReader(out))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		default:
			if s, ok := tok.(string); ok && depth == 1 && dec.More() {
				keys = append(keys, s)
			}
		}
	}
	want := []string{"service", "inbound", "consul", "upstreams", "listeners", "tracing", "admin", "log", "limits", "connect", "access_log", "drain_timeout"}
	if !slices.Equal(keys, want) {
		t.Errorf("top-level keys %q, want %q", keys, want)
	}

	// Empty lists and maps are [] and {}, never null.
	empty := Default()
	empty.Service.Tags, empty.Service.Meta, empty.Upstreams = nil, nil, nil
	out, _ = empty.JSON()
	if bytes.Contains(out, []byte("null")) {
		t.Errorf("null in output:\n%s", out)
	}
}

// TestJSONRoundTrip checks that the output is itself a valid config file
// (same keys as YAML) that loads to the same Config.
func TestJSONRoundTrip(t *testing.T) {
	cfg := loadCustom(t)
	cfg.Consul.Token = ""
	out, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := parse(cfg.File, "json", out, []string{}, testHost)
	if err != nil {
		t.Fatalf("the JSON does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", *back, *cfg)
	}
	if !strings.HasSuffix(string(out), "}\n") {
		t.Error("output should end with a newline")
	}
}
