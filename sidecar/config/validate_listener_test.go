package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// listenerFile returns a file with three upstreams that all have a listen
// address (http "payments", http2 "users", tcp "db") and one listener
// "main" whose routes are the given flow maps, one per list item.
func listenerFile(routes ...string) string {
	var b strings.Builder
	b.WriteString("service: {name: web}\n")
	b.WriteString("upstreams:\n")
	b.WriteString("  - {name: payments, listen: '127.0.0.1:9001'}\n")
	b.WriteString("  - {name: users, listen: '127.0.0.1:9002', protocol: http2}\n")
	b.WriteString("  - {name: db, listen: '127.0.0.1:9003', protocol: tcp}\n")
	b.WriteString("listeners:\n")
	b.WriteString("  - name: main\n")
	b.WriteString("    listen: 127.0.0.1:8000\n")
	b.WriteString("    routes:\n")
	for _, r := range routes {
		b.WriteString("      - " + r + "\n")
	}
	return b.String()
}

// TestListenersParse checks a valid config with listeners: protocol
// defaults to http, unnamed routes are route-<index>, explicit names are
// kept, and an upstream that a route names needs no listen of its own.
func TestListenersParse(t *testing.T) {
	src := `
service: {name: web}
upstreams:
  - name: payments
  - name: users
    protocol: http2
  - name: billing
listeners:
  - name: public
    listen: 127.0.0.1:8000
    routes:
      - match: {host: api.example.com, path_prefix: /pay, headers: {X-Tenant: acme}, methods: [GET, POST]}
        upstream: payments
        strip_prefix: true
      - name: users-exact
        match: {path: /users}
        upstream: users
      - match: {path_regex: '^/v[0-9]+/.*$'}
        split:
          - {upstream: payments, weight: 90}
          - {upstream: billing, weight: 10}
  - name: internal
    listen: 127.0.0.1:8001
    protocol: http2
    routes:
      - name: all
        upstream: users
`
	cfg, warnings := mustParse(t, src)
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if p := cfg.Validate(); p != nil {
		t.Errorf("Validate() on a parsed config = %v", p)
	}
	want := []Listener{
		{Name: "public", Listen: "127.0.0.1:8000", Protocol: ProtocolHTTP, Routes: []Route{
			{
				Name: "route-0",
				Match: Match{
					Host: "api.example.com", PathPrefix: "/pay",
					Headers: map[string]string{"X-Tenant": "acme"}, Methods: []string{"GET", "POST"},
				},
				Upstream: "payments", StripPrefix: true,
			},
			{Name: "users-exact", Match: Match{Path: "/users"}, Upstream: "users"},
			{Name: "route-2", Match: Match{PathRegex: "^/v[0-9]+/.*$"}, Split: []SplitTarget{
				{Upstream: "payments", Weight: 90}, {Upstream: "billing", Weight: 10},
			}},
		}},
		{Name: "internal", Listen: "127.0.0.1:8001", Protocol: ProtocolHTTP2, Routes: []Route{
			{Name: "all", Upstream: "users"},
		}},
	}
	if !reflect.DeepEqual(cfg.Listeners, want) {
		t.Errorf("listeners:\n%+v\nwant:\n%+v", cfg.Listeners, want)
	}
	for i, u := range cfg.Upstreams {
		if u.Listen != "" {
			t.Errorf("upstreams[%d].listen = %q, want empty (routed upstreams need none)", i, u.Listen)
		}
	}
}

// TestListenerDefaultRouteNames checks route-<index> per listener: the index
// is the route's own, whether or not routes before it are named.
func TestListenerDefaultRouteNames(t *testing.T) {
	cfg, _ := mustParse(t, listenerFile(
		"{match: {path: /a}, upstream: payments}",
		"{match: {path: /b}, upstream: payments}",
		"{name: named, match: {path: /c}, upstream: payments}",
		"{upstream: users}",
	))
	var got []string
	for _, r := range cfg.Listeners[0].Routes {
		got = append(got, r.Name)
	}
	if want := []string{"route-0", "route-1", "named", "route-3"}; !slices.Equal(got, want) {
		t.Errorf("route names = %q, want %q", got, want)
	}
	if DefaultRouteName(7) != "route-7" {
		t.Errorf("DefaultRouteName(7) = %q", DefaultRouteName(7))
	}
	if l := DefaultListener(); l.Protocol != ProtocolHTTP || l.Name != "" || l.Listen != "" || l.Routes != nil {
		t.Errorf("DefaultListener() = %+v", l)
	}
}

// TestListenerValidationErrors has one row per rule, with the complete error
// text: nothing more may be reported than the one problem.
func TestListenerValidationErrors(t *testing.T) {
	const r0 = "test.yaml: listeners[0].routes[0]"
	tests := []struct {
		name string
		src  string
		want string
	}{
		// route targets
		{"no such upstream", listenerFile("{upstream: paymnts}"),
			r0 + `.upstream: no upstream named "paymnts"`},
		{"no such split upstream", listenerFile("{split: [{upstream: payments, weight: 1}, {upstream: paymnts, weight: 1}]}"),
			r0 + `.split[1].upstream: no upstream named "paymnts"`},
		{"tcp upstream", listenerFile("{upstream: db}"),
			r0 + `.upstream: upstream "db" is protocol tcp; a route needs an http or http2 upstream`},
		{"tcp split upstream", listenerFile("{split: [{upstream: db, weight: 1}]}"),
			r0 + `.split[0].upstream: upstream "db" is protocol tcp; a route needs an http or http2 upstream`},
		{"both upstream and split", listenerFile("{upstream: payments, split: [{upstream: users, weight: 1}]}"),
			r0 + `: needs exactly one of upstream and split, got both`},
		{"neither upstream nor split", listenerFile("{match: {path: /a}}"),
			r0 + `: needs exactly one of upstream and split, got neither`},
		{"empty split is neither", listenerFile("{split: []}"),
			r0 + `: needs exactly one of upstream and split, got neither`},
		{"weight 0", listenerFile("{split: [{upstream: payments, weight: 0}, {upstream: users, weight: 1}]}"),
			r0 + `.split[0].weight: must be an integer in 1..1000000, got 0`},
		{"weight missing", listenerFile("{split: [{upstream: payments}]}"),
			r0 + `.split[0].weight: must be an integer in 1..1000000, got 0`},
		{"weight negative", listenerFile("{split: [{upstream: payments, weight: 1}, {upstream: users, weight: -5}]}"),
			r0 + `.split[1].weight: must be an integer in 1..1000000, got -5`},
		{"weight not an integer", listenerFile("{split: [{upstream: payments, weight: half}]}"),
			r0 + `.split[0].weight: must be an integer, got "half"`},
		{"split upstream required", listenerFile("{split: [{weight: 1}]}"),
			r0 + `.split[0].upstream: required`},
		{"duplicate split upstream", listenerFile("{split: [{upstream: payments, weight: 1}, {upstream: users, weight: 1}, {upstream: payments, weight: 2}]}"),
			r0 + `.split[2].upstream: "payments" is already split[0]; give it one weight`},
		{"strip_prefix without path_prefix", listenerFile("{match: {path: /a}, upstream: payments, strip_prefix: true}"),
			r0 + `.strip_prefix: needs match.path_prefix (the prefix to strip)`},

		// paths
		{"path_prefix and path", listenerFile("{match: {path_prefix: /a, path: /a/b}, upstream: payments}"),
			r0 + `.match: at most one of path_prefix, path and path_regex, got path_prefix and path`},
		{"path and path_regex", listenerFile("{match: {path: /a, path_regex: '^/a$'}, upstream: payments}"),
			r0 + `.match: at most one of path_prefix, path and path_regex, got path and path_regex`},
		{"all three path matchers", listenerFile("{match: {path_prefix: /a, path: /a, path_regex: '^/a$'}, upstream: payments}"),
			r0 + `.match: at most one of path_prefix, path and path_regex, got path_prefix and path and path_regex`},
		{"path_prefix without slash", listenerFile("{match: {path_prefix: api}, upstream: payments}"),
			r0 + `.match.path_prefix: must start with /, got "api"`},
		{"path without slash", listenerFile("{match: {path: users}, upstream: payments}"),
			r0 + `.match.path: must start with /, got "users"`},
		{"bad regex", listenerFile("{match: {path_regex: '^/(a'}, upstream: payments}"),
			r0 + ".match.path_regex: not an RE2 expression: error parsing regexp: missing closing ): `^/(a`"},
		{"regex RE2 refuses", listenerFile(`{match: {path_regex: '^/(?!admin)'}, upstream: payments}`),
			r0 + ".match.path_regex: not an RE2 expression: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"},

		// host
		{"wildcard inside a host", listenerFile("{match: {host: 'a.*.com'}, upstream: payments}"),
			r0 + `.match.host: the only wildcard is a leading "*." (as in "*.example.com"), got "a.*.com"`},
		{"bare wildcard host", listenerFile("{match: {host: '*'}, upstream: payments}"),
			r0 + `.match.host: the only wildcard is a leading "*." (as in "*.example.com"), got "*"`},
		{"double wildcard host", listenerFile("{match: {host: '*.*.example.com'}, upstream: payments}"),
			r0 + `.match.host: the only wildcard is a leading "*." (as in "*.example.com"), got "*.*.example.com"`},
		{"host with a port", listenerFile("{match: {host: 'example.com:80'}, upstream: payments}"),
			r0 + `.match.host: must be a host without a port (the request's port is ignored), got "example.com:80"`},
		{"host with a space", listenerFile("{match: {host: 'exa mple.com'}, upstream: payments}"),
			r0 + `.match.host: must be a host name such as api.example.com or *.example.com, got "exa mple.com"`},
		{"host with an empty label", listenerFile("{match: {host: 'a..com'}, upstream: payments}"),
			r0 + `.match.host: must be a host name such as api.example.com or *.example.com, got "a..com"`},
		{"wildcard without a suffix", listenerFile("{match: {host: '*.'}, upstream: payments}"),
			r0 + `.match.host: must be a host name such as api.example.com or *.example.com, got "*."`},

		// headers and methods
		{"header name not a token", listenerFile("{match: {headers: {'X Tenant': acme}}, upstream: payments}"),
			r0 + `.match.headers."X Tenant": not a header name`},
		{"header name with a colon", listenerFile("{match: {headers: {'X-Tenant:': acme}}, upstream: payments}"),
			r0 + `.match.headers."X-Tenant:": not a header name`},
		{"host header", listenerFile("{match: {headers: {host: api.example.com}}, upstream: payments}"),
			r0 + `.match.headers.host: match the host with match.host (port and case are ignored there)`},
		{"Host header in any case", listenerFile("{match: {headers: {HOST: api.example.com}}, upstream: payments}"),
			r0 + `.match.headers.HOST: match the host with match.host (port and case are ignored there)`},
		{"empty header value", listenerFile("{match: {headers: {X-Tenant: ''}}, upstream: payments}"),
			r0 + `.match.headers.X-Tenant: must not be empty (the header must carry exactly this value)`},
		{"method with a space", listenerFile("{match: {methods: [GET, 'PO ST']}, upstream: payments}"),
			r0 + `.match.methods[1]: not an HTTP method, got "PO ST"`},
		{"empty method", listenerFile("{match: {methods: ['']}, upstream: payments}"),
			r0 + `.match.methods[0]: not an HTTP method, got ""`},

		// route names
		{"route name characters", listenerFile("{name: 'my route', upstream: payments}"),
			r0 + `.name: must match [A-Za-z0-9_.-]+ (it labels metrics), got "my route"`},
		{"duplicate route name", listenerFile("{name: api, match: {path: /a}, upstream: payments}", "{name: api, upstream: users}"),
			`test.yaml: listeners[0].routes[1].name: "api" is already the name of routes[0]`},
		{"explicit name takes a later default", listenerFile("{match: {path: /a}, upstream: payments}", "{match: {path: /b}, upstream: payments}", "{name: route-1, upstream: users}"),
			`test.yaml: listeners[0].routes[2].name: "route-1" is already the name of routes[1]`},
		// The explicit name comes first, so the unnamed route's default is
		// the one reported.
		{"explicit name before its default", listenerFile("{name: route-1, match: {path: /a}, upstream: payments}", "{upstream: users}"),
			`test.yaml: listeners[0].routes[1].name: "route-1" is already the name of routes[0]`},

		// listeners
		{"listener name required", strings.Replace(listenerFile("{upstream: payments}"), "  - name: main\n", "  - name: ''\n", 1),
			`test.yaml: listeners[0].name: required`},
		{"listener name characters", strings.Replace(listenerFile("{upstream: payments}"), "name: main", "name: 'main/1'", 1),
			`test.yaml: listeners[0].name: must match [A-Za-z0-9_.-]+ (it labels metrics), got "main/1"`},
		{"duplicate listener name", listenerFile("{upstream: payments}") + "  - {name: main, listen: '127.0.0.1:8001', routes: [{upstream: users}]}\n",
			`test.yaml: listeners[1].name: "main" is already the name of listeners[0]`},
		{"listener listen required", strings.Replace(listenerFile("{upstream: payments}"), "    listen: 127.0.0.1:8000\n", "", 1),
			`test.yaml: listeners[0].listen: required`},
		{"listener listen format", strings.Replace(listenerFile("{upstream: payments}"), "listen: 127.0.0.1:8000", "listen: '8000'", 1),
			`test.yaml: listeners[0].listen: must be host:port (like 127.0.0.1:9001), got "8000"`},
		{"listener listen taken by an upstream", strings.Replace(listenerFile("{upstream: payments}"), "listen: 127.0.0.1:8000", "listen: '0.0.0.0:9002'", 1),
			`test.yaml: listeners[0].listen: "0.0.0.0:9002" is already used by upstreams[1].listen`},
		{"listener listen taken by admin", listenerFile("{upstream: payments}") + "admin: {listen: 'localhost:8000'}\n",
			`test.yaml: admin.listen: "localhost:8000" is already used by listeners[0].listen`},
		{"listener listen taken by inbound", "inbound: {listen: '0.0.0.0:8000'}\n" + strings.Replace(listenerFile("{upstream: payments}"), "{name: web}", "{name: web, port: 8080}", 1),
			`test.yaml: listeners[0].listen: "127.0.0.1:8000" is already used by inbound.listen`},
		{"two listeners on one address", listenerFile("{upstream: payments}") + "  - {name: other, listen: '127.0.0.1:8000', routes: [{upstream: users}]}\n",
			`test.yaml: listeners[1].listen: "127.0.0.1:8000" is already used by listeners[0].listen`},
		{"listener protocol tcp", strings.Replace(listenerFile("{upstream: payments}"), "    routes:\n", "    protocol: tcp\n    routes:\n", 1),
			`test.yaml: listeners[0].protocol: must be one of http|http2, got "tcp"`},
		{"listener with no routes", listenerFile(),
			`test.yaml: listeners[0].routes: must list at least one route (with none, every request gets 404 no_route)`},
		{"listener with an empty route list", strings.Replace(listenerFile(), "    routes:\n", "    routes: []\n", 1),
			`test.yaml: listeners[0].routes: must list at least one route (with none, every request gets 404 no_route)`},
		{"unknown listener key", strings.Replace(listenerFile("{upstream: payments}"), "    routes:\n", "    rotues: []\n    routes:\n", 1),
			`test.yaml: listeners[0].rotues: unknown key`},
		{"unknown match key", listenerFile("{match: {prefix: /a}, upstream: payments}"),
			r0 + `.match.prefix: unknown key`},

		// upstreams' listen
		{"unrouted upstream without listen", "service: {name: web}\nupstreams: [{name: a}, {name: b}]\nlisteners: [{name: main, listen: '127.0.0.1:8000', routes: [{upstream: a}]}]\n",
			`test.yaml: upstreams[1].listen: required (no listener route names this upstream)`},
		{"upstream named only by a bad route still counts", "service: {name: web}\nupstreams: [{name: a}]\nlisteners: [{name: main, listen: '127.0.0.1:8000', routes: [{upstream: a, strip_prefix: true}]}]\n",
			`test.yaml: listeners[0].routes[0].strip_prefix: needs match.path_prefix (the prefix to strip)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustFail(t, tt.src).Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestListenerValidConfigs has configs that must be accepted.
func TestListenerValidConfigs(t *testing.T) {
	tests := map[string]string{
		"wildcard host":               listenerFile("{match: {host: '*.example.com'}, upstream: payments}"),
		"host in upper case":          listenerFile("{match: {host: API.Example.com}, upstream: payments}"),
		"host with digits and _":      listenerFile("{match: {host: api_1.ex-ample.com}, upstream: payments}"),
		"single-label host":           listenerFile("{match: {host: localhost}, upstream: payments}"),
		"header name with symbols":    listenerFile("{match: {headers: {X-Req.Id_2: '1', 'x~y': z}}, upstream: payments}"),
		"header value from a number":  listenerFile("{match: {headers: {X-Version: 2}}, upstream: payments}"),
		"extension method":            listenerFile("{match: {methods: [PURGE, get]}, upstream: payments}"),
		"strip_prefix with prefix":    listenerFile("{match: {path_prefix: /api}, upstream: payments, strip_prefix: true}"),
		"split of one":                listenerFile("{split: [{upstream: payments, weight: 1}]}"),
		"http2 upstream":              listenerFile("{upstream: users}"),
		"listener on port 0":          strings.Replace(listenerFile("{upstream: payments}"), "listen: 127.0.0.1:8000", "listen: '127.0.0.1:0'", 1),
		"same port, other host":       strings.Replace(listenerFile("{upstream: payments}"), "listen: 127.0.0.1:8000", "listen: '127.0.0.2:9001'", 1),
		"routed upstream with listen": listenerFile("{upstream: payments}"),
		"same route name in two listeners": listenerFile("{name: api, upstream: payments}") +
			"  - {name: other, listen: '127.0.0.1:8001', routes: [{name: api, upstream: users}]}\n",
		"listener named like an upstream": strings.Replace(listenerFile("{upstream: payments}"), "name: main", "name: payments", 1),
		"no listeners":                    withUpstream(),
		"empty listener list":             withUpstream() + "listeners: []\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, _ := mustParse(t, src)
			if p := cfg.Validate(); p != nil {
				t.Errorf("Validate() on a parsed config = %v", p)
			}
		})
	}
}

// TestListenerProblemsAtOnce checks that every problem of the listeners is
// reported in one round, in key order, together with the rest of the file's.
func TestListenerProblemsAtOnce(t *testing.T) {
	src := `
service: {name: web}
upstreams:
  - {name: payments}
  - {name: orphan}
  - {name: db, listen: '127.0.0.1:9003', protocol: tcp}
listeners:
  - name: main
    listen: 127.0.0.1:9003
    protocol: grpc
    routes:
      - match: {host: '*', path_prefix: api}
        upstream: paymnts
        strip_prefix: true
      - name: route-0
        split:
          - {upstream: payments, weight: 0}
          - {upstream: payments, weight: 1}
          - {upstream: db, weight: 1}
      - match: {path_regex: '(', headers: {Host: x, 'a b': c}, methods: ['G T']}
      - match: {path: /x, path_regex: '^/x$'}
        upstream: payments
  - name: main
    routes: []
log: {level: loud}
`
	errs := mustFail(t, src)
	want := []Problem{
		{"upstreams[1].listen", "required (no listener route names this upstream)"},
		{"listeners[0].listen", `"127.0.0.1:9003" is already used by upstreams[2].listen`},
		{"listeners[0].protocol", `must be one of http|http2, got "grpc"`},
		{"listeners[0].routes[0].match.host", `the only wildcard is a leading "*." (as in "*.example.com"), got "*"`},
		{"listeners[0].routes[0].match.path_prefix", `must start with /, got "api"`},
		{"listeners[0].routes[0].upstream", `no upstream named "paymnts"`},
		{"listeners[0].routes[1].name", `"route-0" is already the name of routes[0]`},
		{"listeners[0].routes[1].split[0].weight", "must be an integer in 1..1000000, got 0"},
		{"listeners[0].routes[1].split[1].upstream", `"payments" is already split[0]; give it one weight`},
		{"listeners[0].routes[1].split[2].upstream", `upstream "db" is protocol tcp; a route needs an http or http2 upstream`},
		{"listeners[0].routes[2]", "needs exactly one of upstream and split, got neither"},
		{"listeners[0].routes[2].match.path_regex", "not an RE2 expression: error parsing regexp: missing closing ): `(`"},
		{"listeners[0].routes[2].match.headers.Host", "match the host with match.host (port and case are ignored there)"},
		{"listeners[0].routes[2].match.headers.\"a b\"", "not a header name"},
		{"listeners[0].routes[2].match.methods[0]", `not an HTTP method, got "G T"`},
		{"listeners[0].routes[3].match", "at most one of path_prefix, path and path_regex, got path and path_regex"},
		{"listeners[1].name", `"main" is already the name of listeners[0]`},
		{"listeners[1].listen", "required"},
		{"listeners[1].routes", "must list at least one route (with none, every request gets 404 no_route)"},
		{"log.level", `must be one of debug|info|warn|error, got "loud"`},
	}
	if !slices.Equal(errs.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", showProblems(errs.Problems), showProblems(want))
	}
}

// TestListenerProblemsUnderAReportedKey checks that a problem with a route
// or its match does not hide the problems of the keys inside it: Parse
// reports what Validate reports. Only problems of keys that failed to decode
// may hide the validation problems beneath them.
func TestListenerProblemsUnderAReportedKey(t *testing.T) {
	tests := []struct {
		name  string
		route string
		want  []Problem
	}{
		{"bad path_prefix beside a second path matcher", "{match: {path_prefix: api, path: /x}, upstream: payments}", []Problem{
			{"listeners[0].routes[0].match", "at most one of path_prefix, path and path_regex, got path_prefix and path"},
			{"listeners[0].routes[0].match.path_prefix", `must start with /, got "api"`},
		}},
		{"strip_prefix on a route without a target", "{strip_prefix: true}", []Problem{
			{"listeners[0].routes[0]", "needs exactly one of upstream and split, got neither"},
			{"listeners[0].routes[0].strip_prefix", "needs match.path_prefix (the prefix to strip)"},
		}},
		{"strip_prefix on a route with both targets", "{upstream: payments, split: [{upstream: users, weight: 1}], strip_prefix: true}", []Problem{
			{"listeners[0].routes[0]", "needs exactly one of upstream and split, got both"},
			{"listeners[0].routes[0].strip_prefix", "needs match.path_prefix (the prefix to strip)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := mustFail(t, listenerFile(tt.route))
			if !slices.Equal(errs.Problems, tt.want) {
				t.Errorf("Parse problems:\n%swant:\n%s", showProblems(errs.Problems), showProblems(tt.want))
			}
		})
	}
}

func showProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// TestListenerValidateBuiltInCode checks Validate on a Config built without
// Parse: a listener from DefaultListener with named routes is valid, and an
// unset protocol (the zero Listener) is refused rather than defaulted.
func TestListenerValidateBuiltInCode(t *testing.T) {
	cfg := Default()
	cfg.Service.Name = "web"
	u := DefaultUpstream()
	u.Name = "payments"
	cfg.Upstreams = []Upstream{u}
	l := DefaultListener()
	l.Name, l.Listen = "main", "127.0.0.1:8000"
	l.Routes = []Route{{Name: "all", Upstream: "payments"}}
	cfg.Listeners = []Listener{l}
	if p := cfg.Validate(); p != nil {
		t.Fatalf("Validate() = %v, want nil", p)
	}
	cfg.Listeners[0].Protocol = ""
	want := []Problem{{"listeners[0].protocol", `must be one of http|http2, got ""`}}
	if got := cfg.Validate(); !slices.Equal(got, want) {
		t.Errorf("Validate() = %v, want %v", got, want)
	}
}

// TestCatchAll checks Match.CatchAll: only an empty match, or one whose only
// condition is path_prefix "/", takes every request.
func TestCatchAll(t *testing.T) {
	tests := []struct {
		m    Match
		want bool
	}{
		{Match{}, true},
		{Match{PathPrefix: "/"}, true},
		{Match{Headers: map[string]string{}, Methods: []string{}}, true},
		{Match{PathPrefix: "/api"}, false},
		{Match{Path: "/"}, false},
		{Match{PathRegex: ".*"}, false},
		{Match{Host: "example.com"}, false},
		{Match{Host: "example.com", PathPrefix: "/"}, false},
		{Match{Headers: map[string]string{"X-A": "1"}}, false},
		{Match{Methods: []string{"GET"}}, false},
	}
	for _, tt := range tests {
		if got := tt.m.CatchAll(); got != tt.want {
			t.Errorf("%+v.CatchAll() = %v, want %v", tt.m, got, tt.want)
		}
	}
}

// TestListenerWarnings checks the warning for a route that can never match.
func TestListenerWarnings(t *testing.T) {
	const never = ": never matches: routes[0] before it takes every request it would"
	tests := []struct {
		name   string
		routes []string
		want   []string
	}{
		{"after path_prefix /", []string{"{match: {path_prefix: /}, upstream: payments}", "{match: {path: /a}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},
		{"after an empty match", []string{"{upstream: payments}", "{match: {host: api.example.com}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},
		{"after a catch-all with empty headers and methods", []string{"{match: {headers: {}, methods: []}, upstream: payments}", "{match: {path: /a}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},
		{"every later route, each once", []string{"{upstream: payments}", "{match: {path_prefix: /}, upstream: users}", "{match: {path: /a}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never, "listeners[0].routes[2]" + never}},
		{"after a later catch-all", []string{"{match: {path: /a}, upstream: payments}", "{upstream: users}", "{match: {path: /b}, upstream: users}"},
			[]string{"listeners[0].routes[2]: never matches: routes[1] before it takes every request it would"}},
		{"after a same-host catch-all", []string{"{match: {host: api.example.com}, upstream: payments}", "{match: {host: api.example.com, path: /a}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},
		{"same host in another case", []string{"{match: {host: API.example.com, path_prefix: /}, upstream: payments}", "{match: {host: api.EXAMPLE.com, methods: [GET]}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},
		{"same wildcard host", []string{"{match: {host: '*.example.com'}, upstream: payments}", "{match: {host: '*.example.com', path: /a}, upstream: users}"},
			[]string{"listeners[0].routes[1]" + never}},

		{"catch-all last", []string{"{match: {path_prefix: /api}, upstream: payments}", "{upstream: users}"}, nil},
		{"after a path_prefix other than /", []string{"{match: {path_prefix: /api}, upstream: payments}", "{match: {path_prefix: /api}, upstream: users}"}, nil},
		{"after an exact path", []string{"{match: {path: /}, upstream: payments}", "{match: {path: /a}, upstream: users}"}, nil},
		{"after a regex", []string{"{match: {path_regex: '.*'}, upstream: payments}", "{upstream: users}"}, nil},
		{"after a header match", []string{"{match: {headers: {X-Canary: '1'}}, upstream: payments}", "{upstream: users}"}, nil},
		{"after a method match", []string{"{match: {methods: [GET]}, upstream: payments}", "{upstream: users}"}, nil},
		{"after another host's catch-all", []string{"{match: {host: a.example.com}, upstream: payments}", "{match: {host: b.example.com}, upstream: users}"}, nil},
		{"host catch-all before a route for any host", []string{"{match: {host: a.example.com}, upstream: payments}", "{match: {path: /x}, upstream: users}"}, nil},
		{"same host but narrower first", []string{"{match: {host: a.example.com, path: /a}, upstream: payments}", "{match: {host: a.example.com}, upstream: users}"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings := mustParse(t, listenerFile(tt.routes...))
			if !slices.Equal(warnings, tt.want) {
				t.Errorf("Parse warnings:\n%q\nwant:\n%q", warnings, tt.want)
			}
			if got := cfg.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("Warnings():\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

// TestListenerWarningsOrder checks that listener warnings come after the
// upstreams', listener by listener, and the environment's last.
func TestListenerWarningsOrder(t *testing.T) {
	src := strings.Replace(listenerFile("{upstream: payments}", "{match: {path: /a}, upstream: users}"),
		"  - {name: payments, listen: '127.0.0.1:9001'}\n",
		"  - {name: payments, listen: '127.0.0.1:9001', retries: {on: []}}\n", 1) +
		"  - name: second\n    listen: 127.0.0.1:8001\n    routes: [{match: {path_prefix: /}, upstream: users}, {upstream: payments}]\n"
	_, warnings := mustParse(t, src, "OUTRIGGER_X=1")
	want := []string{
		"upstreams[0].retries.on: empty, so the 1 retry attempt(s) never happen; list the failures to retry or set attempts: 0",
		"listeners[0].routes[1]: never matches: routes[0] before it takes every request it would",
		"listeners[1].routes[1]: never matches: routes[0] before it takes every request it would",
		"OUTRIGGER_X: no config key matches this variable; ignored",
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", warnings, want)
	}
}

// TestListenersEnv checks that listeners cannot be set from the environment:
// OUTRIGGER_LISTENERS gets the warning of every other list, and a variable
// aimed at a listener item is ignored with a warning too.
func TestListenersEnv(t *testing.T) {
	src := listenerFile("{upstream: payments}")
	cfg, warnings := mustParse(t, src, "OUTRIGGER_LISTENERS=main")
	want := []string{"OUTRIGGER_LISTENERS: listeners is a list, which cannot be set from the environment; ignored"}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", warnings, want)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Name != "main" {
		t.Errorf("listeners changed by the environment: %+v", cfg.Listeners)
	}

	cfg, warnings = mustParse(t, src, "OUTRIGGER_LISTENERS_0_LISTEN=127.0.0.1:8500")
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "OUTRIGGER_LISTENERS_0_LISTEN: ") || !strings.HasSuffix(warnings[0], "; ignored") {
		t.Errorf("warnings = %q, want one saying OUTRIGGER_LISTENERS_0_LISTEN is ignored", warnings)
	}
	if cfg.Listeners[0].Listen != "127.0.0.1:8000" {
		t.Errorf("listeners[0].listen = %q, want the file's", cfg.Listeners[0].Listen)
	}

	scalars, lists := envKeys()
	if lists["OUTRIGGER_LISTENERS"] != "listeners" {
		t.Errorf("lists[OUTRIGGER_LISTENERS] = %q, want listeners", lists["OUTRIGGER_LISTENERS"])
	}
	for name := range scalars {
		if strings.HasPrefix(name, "OUTRIGGER_LISTENERS") {
			t.Errorf("%s: listener items must not be addressable", name)
		}
	}
}
