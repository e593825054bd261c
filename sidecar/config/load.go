package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// Load reads the config file at path (the format chosen by its extension:
// .yaml, .yml, .toml or .json), applies defaults and environment overrides,
// and validates the result. On any problem it returns a nil Config and an
// *Errors holding every problem found. Warnings (see Config.Warnings, plus
// ignored OUTRIGGER_* variables) are returned whether or not err is nil.
func Load(path string) (cfg *Config, warnings []string, err error) {
	format, ok := formatOf(path)
	if !ok {
		msg := fmt.Sprintf("unsupported file extension %q; use .yaml, .yml, .toml or .json", filepath.Ext(path))
		if filepath.Ext(path) == "" {
			msg = "no file extension to tell the format by; use .yaml, .yml, .toml or .json"
		}
		return nil, nil, &Errors{File: path, Problems: []Problem{{Msg: msg}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		// The path is already the line's prefix; keep only the reason.
		msg := err.Error()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			msg = pe.Err.Error()
		}
		return nil, nil, &Errors{File: path, Problems: []Problem{{Msg: "cannot read: " + msg}}}
	}
	return Parse(path, format, data, nil)
}

// Parse is Load on bytes already read. format is "yaml" (or "yml"), "toml"
// or "json"; file names the source in messages and in Config.File. env is
// the environment as os.Environ formats it ("KEY=value"); nil means the
// process environment, so that tests can pass their own.
//
// Order of precedence, highest first: OUTRIGGER_* variables, the standard
// variables, the file, the defaults. OUTRIGGER_ + a key path upper-cased
// with "." as "_" sets that key (OUTRIGGER_ADMIN_LISTEN, OUTRIGGER_CONSUL_WAIT_TIME)
// for every scalar key outside the upstreams list; lists, maps and upstream
// items cannot be set this way (an item has no stable name to address), and
// a variable aimed at one, or at no key, is a warning. The standard variables
// are CONSUL_HTTP_ADDR (consul.address, and consul.scheme when it carries
// http:// or https://), CONSUL_HTTP_TOKEN (consul.token),
// OTEL_EXPORTER_OTLP_ENDPOINT (tracing.exporter = otlp, tracing.endpoint, and
// tracing.insecure from its scheme) and OTEL_TRACES_SAMPLER_ARG
// (tracing.sample_ratio). Empty variables count as unset. A bad value is a
// problem naming the variable: OUTRIGGER_DRAIN_TIMEOUT (drain_timeout): ...
func Parse(file string, format string, data []byte, env []string) (*Config, []string, error) {
	if env == nil {
		env = os.Environ()
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return parse(file, format, data, env, host)
}

// parse is Parse with the host name injected, so tests of the derived
// service.id do not depend on the machine.
func parse(file, format string, data []byte, env []string, hostname string) (*Config, []string, error) {
	raw, issues := decodeFile(format, data)
	if len(issues) > 0 {
		// The file could not be read as a map at all: every key would be
		// reported missing, which hides the one real problem.
		return nil, nil, newErrors(file, issues)
	}

	cfg := Default()
	d := decoder{}
	d.decodeStruct("", raw, reflect.ValueOf(&cfg).Elem())
	issues = d.issues

	origin, envIssues, warnings := applyEnv(&cfg, env)
	issues = append(issues, envIssues...)

	cfg.derive(hostname)
	cfg.File = file
	decoded := slices.Clone(issues)
	for _, v := range cfg.validate() {
		if covered(decoded, v.path) {
			continue
		}
		v.via = origin[v.path]
		issues = append(issues, v)
	}
	if len(issues) > 0 {
		return nil, warnings, newErrors(file, issues)
	}
	return &cfg, append(cfg.Warnings(), warnings...), nil
}

// covered reports whether a validation problem at path follows from a key that
// already failed to decode: the key kept its default, and complaining about
// that default (or its parts) would only confuse.
func covered(issues []issue, path string) bool {
	for _, is := range issues {
		p := is.path
		if p == path || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

func newErrors(file string, issues []issue) *Errors {
	sortIssues(issues)
	e := &Errors{File: file, Problems: make([]Problem, len(issues))}
	for i, is := range issues {
		e.Problems[i] = is.problem()
	}
	return e
}
