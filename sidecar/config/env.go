package config

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// envPrefix starts every variable that overrides a config key.
const envPrefix = "OUTRIGGER_"

// envKey is one scalar key that an OUTRIGGER_* variable can set.
type envKey struct {
	path  string // admin.listen
	index []int  // field index path from Config, for reflect.Value.FieldByIndex
}

// envKeys maps variable names to the keys they set: OUTRIGGER_ + the key path
// upper-cased with "." as "_" (OUTRIGGER_CONSUL_WAIT_TIME → consul.wait_time).
// Only scalar keys are settable; lists names the list and map keys
// (service.tags, upstreams, ...) so that a variable aimed at one gets a
// precise warning. Items of the upstreams list have no variables: a list item
// has no stable name to address (its index moves when the file is edited).
//
// The table is built from the struct tags on every call, so it can never
// drift from types.go, and the package holds no state.
func envKeys() (scalars map[string]envKey, lists map[string]string) {
	scalars, lists = map[string]envKey{}, map[string]string{}
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			p := child(path, tag)
			name := envPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_"))
			idx := append(slices.Clip(index), i)
			switch {
			case isDuration(f.Type):
				scalars[name] = envKey{path: p, index: idx}
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, p, idx)
			case f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Map:
				lists[name] = p
			default:
				scalars[name] = envKey{path: p, index: idx}
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return scalars, lists
}

// applyEnv applies the environment to cfg: first the standard variables of
// Consul and OpenTelemetry, then OUTRIGGER_* variables, so that the latter
// win. An empty variable counts as unset (as in viper), so a wrapper script's
// `export OUTRIGGER_LOG_LEVEL=` does not blank a key.
//
// It returns which variable set each key (for naming the variable when the
// value later fails validation), the problems with values that do not parse,
// and warnings for OUTRIGGER_* variables that match no scalar key.
func applyEnv(cfg *Config, env []string) (origin map[string]string, issues []issue, warnings []string) {
	vars := envMap(env)
	origin = map[string]string{}
	std := func(name, path string, set func(v string) string) {
		v := vars[name]
		if v == "" {
			return
		}
		if msg := set(v); msg != "" {
			issues = append(issues, issue{path: path, via: name, msg: msg})
			return
		}
		origin[path] = name
	}

	// Consul's CLI and API client read CONSUL_HTTP_ADDR as host:port with an
	// optional http:// or https:// scheme that selects TLS.
	std("CONSUL_HTTP_ADDR", "consul.address", func(v string) string {
		host, scheme, _, msg := splitScheme(v)
		if msg != "" {
			return msg
		}
		cfg.Consul.Address = host
		if scheme != "" {
			cfg.Consul.Scheme = scheme
			origin["consul.scheme"] = "CONSUL_HTTP_ADDR"
		}
		return ""
	})
	std("CONSUL_HTTP_TOKEN", "consul.token", func(v string) string {
		cfg.Consul.Token = v
		return ""
	})
	// OpenTelemetry: setting the OTLP endpoint means "export over OTLP"; its
	// scheme says whether TLS is used (http:// = insecure).
	std("OTEL_EXPORTER_OTLP_ENDPOINT", "tracing.endpoint", func(v string) string {
		host, scheme, path, msg := splitScheme(v)
		if msg != "" {
			return msg
		}
		cfg.Tracing.Endpoint = host
		cfg.Tracing.Exporter = "otlp"
		origin["tracing.exporter"] = "OTEL_EXPORTER_OTLP_ENDPOINT"
		if scheme != "" {
			cfg.Tracing.Insecure = scheme == "http"
			origin["tracing.insecure"] = "OTEL_EXPORTER_OTLP_ENDPOINT"
		}
		if path != "" && path != "/" {
			warnings = append(warnings, "OTEL_EXPORTER_OTLP_ENDPOINT: the path "+quote(path)+
				" is ignored; tracing.endpoint is host:port and the exporter adds the standard path")
		}
		return ""
	})
	std("OTEL_TRACES_SAMPLER_ARG", "tracing.sample_ratio", func(v string) string {
		f, ok := asFloat(v)
		if !ok {
			return "must be a number in [0, 1], got " + quote(v)
		}
		cfg.Tracing.SampleRatio = f
		return ""
	})

	scalars, lists := envKeys()
	root := reflect.ValueOf(cfg).Elem()
	names := make([]string, 0, len(vars))
	for name := range vars {
		if strings.HasPrefix(name, envPrefix) && name != "OUTRIGGER_CONFIG" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if k, ok := scalars[name]; ok {
			std(name, k.path, func(v string) string { return setScalar(root.FieldByIndex(k.index), v) })
			continue
		}
		switch list, isList := lists[name]; {
		case isList:
			warnings = append(warnings, name+": "+list+" is a list, which cannot be set from the environment; ignored")
		case strings.HasPrefix(name, envPrefix+"UPSTREAMS_"):
			warnings = append(warnings, name+": upstreams cannot be set from the environment; ignored")
		case strings.HasPrefix(name, envPrefix+"LISTENERS_"):
			warnings = append(warnings, name+": listeners cannot be set from the environment; ignored")
		default:
			warnings = append(warnings, name+": no config key matches this variable; ignored")
		}
	}
	return origin, issues, warnings
}

// envMap indexes "KEY=value" entries. The first of duplicate entries wins, as
// with os.Getenv.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := m[k]; !seen {
			m[k] = v
		}
	}
	return m
}

// splitScheme splits an optional http:// or https:// off an address. Without
// a scheme the value is returned as is for validation to judge.
func splitScheme(v string) (host, scheme, path, msg string) {
	if !strings.Contains(v, "://") {
		return v, "", "", ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return "", "", "", "must be host:port or http(s)://host:port, got " + quote(v)
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", "", "scheme must be http or https, got " + quote(v)
	}
	return u.Host, scheme, u.Path, ""
}
