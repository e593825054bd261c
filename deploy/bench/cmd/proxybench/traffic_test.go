package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAdmin serves a fixed /metrics and /config, as an Outrigger admin
// API would.
func fakeAdmin(t *testing.T, metrics, config string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = w.Write([]byte(metrics))
		case "/config":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(config))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

const okLine = `{"time":"2026-11-25T01:02:03.456Z","listener":"","upstream":"backend","route":"","method":"GET","path":"/","status":200,"duration_ms":0.2,"bytes_in":0,"bytes_out":1024,"endpoint":"127.0.0.1:1","retries":0,"error":"","trace_id":"","client":"127.0.0.1:2"}`

func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckAccessLog(t *testing.T) {
	metrics := func(count, local, dropped string) string {
		return "# HELP x\n" +
			`outrigger_upstream_request_duration_seconds_bucket{upstream="backend",le="+Inf"} ` + count + "\n" +
			`outrigger_upstream_request_duration_seconds_count{upstream="backend"} ` + count + "\n" +
			`outrigger_local_replies_total{upstream="backend",reason="overflow"} ` + local + "\n" +
			"outrigger_access_log_dropped_total " + dropped + "\n"
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		metrics string
		runs    int64 // requests the kept wrk runs completed
		served  float64
		ok      bool
		bad     string // a key of Bad
	}{
		{"every request logged", []string{okLine, okLine, okLine}, metrics("3", "0", "0"), 3, 3, true, ""},
		{"drops counted", []string{okLine, okLine}, metrics("3", "0", "1"), 2, 3, true, ""},
		{"local replies are served requests", []string{okLine, okLine, okLine}, metrics("2", "1", "0"), 2, 3, false, "status 503"},
		{"a line missing", []string{okLine, okLine}, metrics("3", "0", "0"), 2, 3, false, ""},
		{"more runs than served", []string{okLine}, metrics("1", "0", "0"), 2, 1, false, ""},
		{"not JSON", []string{okLine, "GET / 200"}, metrics("2", "0", "0"), 2, 2, false, "not JSON"},
		{"another upstream", []string{okLine, strings.Replace(okLine, `"backend"`, `"decoy"`, 1)}, metrics("2", "0", "0"), 2, 2, false, `upstream "decoy"`},
		{"no histogram", []string{okLine}, "outrigger_access_log_dropped_total 0\n", 1, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := tc.lines
			if tc.bad == "status 503" {
				lines[2] = strings.Replace(okLine, `"status":200`, `"status":503`, 1)
			}
			tg := &target{ID: tOutriggerALog, Admin: fakeAdmin(t, tc.metrics, "{}"), AccessLog: writeLog(t, lines...),
				Tput: []wrkResult{{Requests: tc.runs}}}
			c := checkAccessLog(tg, 300*time.Millisecond)
			if c.ok() != tc.ok {
				t.Fatalf("ok() = %v, want %v; %s", c.ok(), tc.ok, c.note())
			}
			if tc.bad != "" && c.Bad[tc.bad] != 1 {
				t.Errorf("Bad = %v, want one %q", c.Bad, tc.bad)
			}
			if c.Err == nil && (c.Lines != int64(len(lines)) || c.Served != tc.served) {
				t.Errorf("Lines = %d, Served = %v, want %d and %v", c.Lines, c.Served, len(lines), tc.served)
			}
		})
	}
}

// The writer flushes every 20 ms: a line that reaches the file after the
// check first looked is counted. Here it is written when /metrics is read
// the second time, so a check that did not poll would see one line of two.
func TestCheckAccessLogWaitsForTheWriter(t *testing.T) {
	path := writeLog(t, okLine)
	var scrapes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scrapes.Add(1) == 2 {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, _ = f.WriteString(okLine + "\n")
				f.Close()
			}
		}
		_, _ = w.Write([]byte(`outrigger_upstream_request_duration_seconds_count{upstream="backend"} 2` + "\n"))
	}))
	defer srv.Close()
	tg := &target{Admin: strings.TrimPrefix(srv.URL, "http://"), AccessLog: path}
	if c := checkAccessLog(tg, 10*time.Second); !c.ok() || c.Lines != 2 || scrapes.Load() != 2 {
		t.Fatalf("ok() = %v, Lines = %d after %d scrapes: %s", c.ok(), c.Lines, scrapes.Load(), c.note())
	}
}

func TestCheckRateLimit(t *testing.T) {
	cfg := func(rps string) string {
		return `{"upstreams":[{"name":"backend","rate_limit":{"requests_per_second":` + rps + `,"burst":0}}]}`
	}
	const none = `outrigger_local_replies_total{upstream="backend",reason="overflow"} 0` + "\n"
	const limited = `outrigger_local_replies_total{upstream="backend",reason="rate_limited"} 3` + "\n"
	for _, tc := range []struct {
		name, metrics, config string
		non2xx                int64
		ok                    bool
	}{
		{"not reached", none, cfg("500000"), 0, true},
		{"429 counted", limited, cfg("500000"), 0, false},
		{"a non-2xx answer", none, cfg("500000"), 1, false},
		{"another limit in force", none, cfg("0"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := &target{Admin: fakeAdmin(t, tc.metrics, tc.config),
				Tput: []wrkResult{{Requests: 1000, RPS: 200, Non2xx: tc.non2xx}}, Lat: []latResult{{OK: 10}}}
			c := checkRateLimit(tg)
			if c.ok() != tc.ok {
				t.Fatalf("ok() = %v, want %v; %s", c.ok(), tc.ok, c.note())
			}
			if c.Measured != 1010 || c.MaxRPS != 200 {
				t.Errorf("Measured = %v, MaxRPS = %v, want 1010 and 200", c.Measured, c.MaxRPS)
			}
		})
	}
}

// The traffic-control configs are the plain one plus the feature's lines
// (and a comment line saying so).
func TestTrafficTargetConfigs(t *testing.T) {
	e := benchEnv{WorkDir: t.TempDir(), ProxyCPU: "1", Outrigger: "outrigger", Backend: "127.0.0.1:1"}
	for _, tc := range []struct {
		id, feature string
	}{
		{tOutriggerALog, "access_log:\n  enabled: true\n  path: " + filepath.Join(e.WorkDir, tOutriggerALog+".access.log") + "\n  format: json\n"},
		{tOutriggerRate, "    rate_limit:\n      requests_per_second: 500000   # burst: the same (the default)\n"},
	} {
		tg, err := newTarget(tc.id, e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tg.Config, tc.feature) {
			t.Fatalf("%s: config lacks %q:\n%s", tc.id, tc.feature, tg.Config)
		}
		lines := strings.SplitAfter(strings.Replace(tg.Config, tc.feature, "", 1), "\n")
		got := lines[0] + strings.Join(lines[2:], "") // without the comment line after the first
		if plain := outriggerConfig(tg.Addr, e.Backend, tg.Admin, "tracing:\n  exporter: none\n"); got != plain {
			t.Errorf("%s: config is not the plain one plus the feature:\n%s\nplain:\n%s", tc.id, tg.Config, plain)
		}
	}
}

// rounds makes a target whose wrk runs had these throughputs (and a CPU
// per request that is their inverse, as on a saturated core).
func rounds(id string, rps ...float64) *target {
	t := &target{ID: id}
	for _, r := range rps {
		t.Tput = append(t.Tput, wrkResult{RPS: r, CPUPer1k: 1000 / r})
	}
	return t
}

func TestCompareTraffic(t *testing.T) {
	for _, tc := range []struct {
		name        string
		plain, feat []float64
		f           trafficFeature
		medRPS      float64 // median of the same-round ratios
		ofMedians   float64 // ratio of the medians
		cost        float64 // per cent
		verdict     string
	}{
		{"no cost", []float64{100, 100, 100}, []float64{100, 100, 100}, trafficFeatures[1], 1, 1, 0, "**PASS**"},
		{"5% is within the access log's limit", []float64{100, 100, 100}, []float64{95, 95, 95}, trafficFeatures[0], 0.95, 0.95, 5, "**PASS**"},
		{"5.1% is not", []float64{1000, 1000, 1000}, []float64{949, 949, 949}, trafficFeatures[0], 0.949, 0.949, 5.1, "**MISS**"},
		{"2.1% misses the rate limit's", []float64{1000, 1000, 1000}, []float64{979, 979, 979}, trafficFeatures[1], 0.979, 0.979, 2.1, "**MISS**"},
		// The core switches between a slow and a fast speed: the feature's
		// median run is a slow one, plain's a fast one, though in every
		// round but one the two ran at the same speed and cost the same.
		{"speed switches", []float64{150, 230, 150, 230, 230}, []float64{150, 150, 150, 230, 230}, trafficFeatures[1], 1, 150.0 / 230, 0, "**PASS**"},
		{"seven rounds decide", []float64{100, 100, 100, 100, 100, 100, 100}, []float64{96, 96, 96, 96, 96, 96, 96}, trafficFeatures[0], 0.96, 0.96, 4, "**PASS**"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize([]*target{rounds(tOutrigger, tc.plain...), rounds(tc.f.ID, tc.feat...)}, options{Rate: 1})
			c, ok := compareTraffic(s, tc.f)
			if !ok {
				t.Fatal("no comparison")
			}
			near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
			if !near(c.RPSMed, tc.medRPS) || !near(c.RPS, tc.ofMedians) || !near(c.CPUMed, 1/tc.medRPS) {
				t.Errorf("same-round %.4f×, of the medians %.4f×, CPU same-round %.4f×; want %.4f×, %.4f×, %.4f×",
					c.RPSMed, c.RPS, c.CPUMed, tc.medRPS, tc.ofMedians, 1/tc.medRPS)
			}
			if !near(c.cost(), tc.cost) || c.verdict() != tc.verdict {
				t.Errorf("cost %.1f %%, %s; want %.1f %%, %s", c.cost(), c.verdict(), tc.cost, tc.verdict)
			}
			// Fewer than 7 rounds decide nothing: the verdict says so.
			if n := len(tc.plain); (n < trafficMinRounds) != strings.Contains(c.verdictNote(), "indicative") {
				t.Errorf("%d rounds: %q", n, c.verdictNote())
			}
		})
	}
}
