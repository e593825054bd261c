package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The traffic-control targets (issue 13): the plain outrigger target with
// one feature switched on, measured in the same rounds as it, so that the
// ratio of the two is the feature's cost (traffic_report.go).
//
//   - outrigger-accesslog: access_log on, JSON, to a file in the work dir.
//     After the runs the file must hold one line per request the sidecar
//     served, less the lines it counted as dropped (checkAccessLog).
//   - outrigger-ratelimit: a rate_limit on the upstream far above anything
//     the bench offers, so every request takes a token and none is
//     refused; after the runs no request may have got a 429
//     (checkRateLimit).

// rateLimitRPS is outrigger-ratelimit's requests_per_second (burst
// defaults to the same): over 10× the most one Outrigger core serves here
// (about 16k req/s) and the most the backend answers directly (about 40k),
// so the bucket is never empty. checkRateLimit says so when a run came
// within 10× of it.
const rateLimitRPS = 500_000

// trafficTarget turns t (set up as the plain outrigger target) into one of
// the traffic-control targets: the same config with the feature's lines
// added.
func trafficTarget(t *target, e benchEnv, tracing string) {
	switch t.ID {
	case tOutriggerALog:
		t.Label, t.Short = "Outrigger, access log to a file", "outr+alog"
		t.AccessLog = filepath.Join(e.WorkDir, t.ID+".access.log")
		t.Config = outriggerConfigWith("# with the access log on: JSON, one line per request, to a file\n",
			t.Addr, e.Backend, t.Admin, "",
			fmt.Sprintf("access_log:\n  enabled: true\n  path: %s\n  format: json\n", t.AccessLog)+tracing)
	case tOutriggerRate:
		t.Label, t.Short = "Outrigger, rate limit not reached", "outr+rlim"
		t.Config = outriggerConfigWith(
			fmt.Sprintf("# with a rate_limit of %d req/s on the upstream: never reached, every request takes a token\n", rateLimitRPS),
			t.Addr, e.Backend, t.Admin,
			fmt.Sprintf("    rate_limit:\n      requests_per_second: %d   # burst: the same (the default)\n", rateLimitRPS),
			tracing)
	}
}

// sample is one line of a Prometheus text exposition.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

var reSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)`)

// scrape reads the target's /metrics (bounded: 5 s).
func scrape(admin string) ([]sample, error) {
	c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := reSample.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("bad sample %q", l)
		}
		s := sample{Name: m[1], Labels: map[string]string{}, Value: v}
		for _, kv := range reLabel.FindAllStringSubmatch(m[2], -1) {
			s.Labels[kv[1]] = kv[2]
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// sum adds the samples named name whose labels include all of want.
func sum(ss []sample, name string, want map[string]string) (total float64, seen bool) {
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		match := true
		for k, v := range want {
			match = match && s.Labels[k] == v
		}
		if match {
			total += s.Value
			seen = true
		}
	}
	return total, seen
}

// served is how many requests the sidecar finished on the bench's
// upstream: those it passed on (the request-duration histogram's count)
// and those it answered itself (local replies). Each has exactly one
// access-log line, written or dropped.
func served(ss []sample) (float64, error) {
	n, ok := sum(ss, "outrigger_upstream_request_duration_seconds_count", map[string]string{"upstream": "backend"})
	if !ok {
		return 0, errors.New(`no outrigger_upstream_request_duration_seconds_count{upstream="backend"} in /metrics`)
	}
	lr, _ := sum(ss, "outrigger_local_replies_total", map[string]string{"upstream": "backend"})
	return n + lr, nil
}

// measured is what the target's kept runs completed: wrk's requests and
// vegeta's successful ones; and how many got no 2xx or an error.
func measured(t *target) (ok float64, bad int64) {
	for _, w := range t.Tput {
		ok += float64(w.Requests)
		bad += w.Errors + w.Non2xx
	}
	for _, l := range t.Lat {
		ok += float64(l.OK)
		bad += int64(l.Errors)
	}
	return ok, bad
}

// accessLogCheck is what outrigger-accesslog's file and counters say after
// all runs.
type accessLogCheck struct {
	Path            string
	Lines, Bytes    int64
	Served, Dropped float64          // requests finished; outrigger_access_log_dropped_total
	Measured        float64          // completed by the kept runs (the rest: warm-up, probes, repeated runs)
	Bad             map[string]int64 // lines that are not {"upstream":"backend",...,"status":200}, by what they are
	Err             error
}

func (c accessLogCheck) ok() bool {
	return c.Err == nil && len(c.Bad) == 0 && float64(c.Lines) == c.Served-c.Dropped && c.Served >= c.Measured && c.Lines > 0
}

// note is one sentence for results.md and stdout.
func (c accessLogCheck) note() string {
	if c.Err != nil {
		return "⚠ the access log could not be checked: " + c.Err.Error()
	}
	var b strings.Builder
	rel := "="
	if float64(c.Lines) != c.Served-c.Dropped {
		rel = "⚠ ≠"
	}
	fmt.Fprintf(&b, "the file has %s lines (%.1f MiB) %s the %s requests the sidecar served (`outrigger_upstream_request_duration_seconds_count` plus local replies; the measured runs completed %s of them, the rest are warm-up, readiness probes and repeated runs) − %s dropped (`outrigger_access_log_dropped_total`)",
		thousands(float64(c.Lines)), float64(c.Bytes)/(1<<20), rel, thousands(c.Served), thousands(c.Measured), thousands(c.Dropped))
	if len(c.Bad) == 0 {
		b.WriteString("; every line is a JSON object with upstream `backend` and status 200")
	} else {
		keys := make([]string, 0, len(c.Bad))
		for k := range c.Bad {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %s", k, thousands(float64(c.Bad[k]))))
		}
		fmt.Fprintf(&b, "; ⚠ lines other than JSON with upstream `backend` and status 200: %s", strings.Join(parts, ", "))
	}
	if c.Served < c.Measured {
		b.WriteString("; ⚠ the sidecar counted fewer requests than the measured runs completed")
	}
	return b.String()
}

// checkAccessLog compares outrigger-accesslog's file with its counters.
// The log's writer takes what is queued every 20 ms, so the last lines may
// reach the file a little after the last request: it polls (for at most
// wait) until lines + dropped = served, then reads every line.
func checkAccessLog(t *target, wait time.Duration) accessLogCheck {
	c := accessLogCheck{Path: t.AccessLog, Bad: map[string]int64{}}
	c.Measured, _ = measured(t)
	deadline := time.Now().Add(wait)
	for {
		ss, err := scrape(t.Admin)
		if err != nil {
			c.Err = err
			return c
		}
		if c.Served, err = served(ss); err != nil {
			c.Err = err
			return c
		}
		c.Dropped, _ = sum(ss, "outrigger_access_log_dropped_total", nil)
		if c.Lines, c.Bytes, err = countLines(t.AccessLog); err != nil {
			c.Err = err
			return c
		}
		if float64(c.Lines)+c.Dropped >= c.Served || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Bad, c.Err = readAccessLog(t.AccessLog)
	return c
}

// countLines counts the newlines of the file at path, and its size.
func countLines(path string) (lines, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		size += int64(n)
		if err == io.EOF {
			return lines, size, nil
		}
		if err != nil {
			return lines, size, err
		}
	}
}

// readAccessLog parses every line of the log and tallies those that are
// not what the bench's requests must give: JSON, upstream "backend",
// status 200.
func readAccessLog(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bad := map[string]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			Upstream string `json:"upstream"`
			Status   int    `json:"status"`
		}
		switch err := json.Unmarshal(sc.Bytes(), &e); {
		case err != nil:
			bad["not JSON"]++
		case e.Upstream != "backend":
			bad[fmt.Sprintf("upstream %q", e.Upstream)]++
		case e.Status != http.StatusOK:
			bad[fmt.Sprintf("status %d", e.Status)]++
		}
	}
	return bad, sc.Err()
}

// rateLimitCheck is what outrigger-ratelimit's counters and config say
// after all runs.
type rateLimitCheck struct {
	InForce  float64 // requests_per_second in /config
	Limited  float64 // outrigger_local_replies_total{upstream="backend",reason="rate_limited"}
	Bad      int64   // measured requests with no 2xx or an error
	Measured float64
	MaxRPS   float64 // the highest throughput of a kept run
	Err      error
}

func (c rateLimitCheck) ok() bool {
	return c.Err == nil && c.InForce == rateLimitRPS && c.Limited == 0 && c.Bad == 0
}

// note is one sentence for results.md and stdout.
func (c rateLimitCheck) note() string {
	if c.Err != nil {
		return "⚠ the rate limit could not be checked: " + c.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "`/config` shows `requests_per_second: %.0f` in force", c.InForce)
	if c.InForce != rateLimitRPS {
		fmt.Fprintf(&b, " (⚠ the bench configured %d)", rateLimitRPS)
	}
	fmt.Fprintf(&b, "; `outrigger_local_replies_total{upstream=\"backend\",reason=\"rate_limited\"}` is %s", thousands(c.Limited))
	fmt.Fprintf(&b, " and %s of the %s requests of the measured runs got an error or no 2xx", thousands(float64(c.Bad)), thousands(c.Measured))
	if c.Limited > 0 || c.Bad > 0 {
		b.WriteString(" (⚠ the limit was reached: the figure is not the cost of a limit that is not)")
	} else {
		b.WriteString(": no 429")
	}
	fmt.Fprintf(&b, "; the fastest run was %s req/s, %.0f× below the limit", thousands(c.MaxRPS), rateLimitRPS/max(c.MaxRPS, 1))
	if c.MaxRPS*10 > rateLimitRPS {
		b.WriteString(" (⚠ less than 10×)")
	}
	return b.String()
}

// checkRateLimit reads outrigger-ratelimit's /config and /metrics.
func checkRateLimit(t *target) rateLimitCheck {
	var c rateLimitCheck
	c.Measured, c.Bad = measured(t)
	for _, w := range t.Tput {
		c.MaxRPS = max(c.MaxRPS, w.RPS)
	}
	var cfg struct {
		Upstreams []struct {
			Name      string `json:"name"`
			RateLimit struct {
				RequestsPerSecond float64 `json:"requests_per_second"`
			} `json:"rate_limit"`
		} `json:"upstreams"`
	}
	cl := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	if c.Err = getJSON(cl, "http://"+t.Admin+"/config", &cfg); c.Err != nil {
		return c
	}
	for _, u := range cfg.Upstreams {
		if u.Name == "backend" {
			c.InForce = u.RateLimit.RequestsPerSecond
		}
	}
	ss, err := scrape(t.Admin)
	if err != nil {
		c.Err = err
		return c
	}
	c.Limited, _ = sum(ss, "outrigger_local_replies_total", map[string]string{"upstream": "backend", "reason": "rate_limited"})
	return c
}

// trafficChecks are the checks of the traffic-control targets that ran.
type trafficChecks struct {
	AccessLog *accessLogCheck
	RateLimit *rateLimitCheck
}

// check runs the checks of the traffic-control targets among ts, and
// prints a warning for each that fails.
func runTrafficChecks(ts []*target) trafficChecks {
	var tc trafficChecks
	for _, t := range ts {
		switch t.ID {
		case tOutriggerALog:
			c := checkAccessLog(t, 10*time.Second)
			tc.AccessLog = &c
			if !c.ok() {
				fmt.Printf("WARNING: %s: %s\n", t.ID, c.note())
			}
		case tOutriggerRate:
			c := checkRateLimit(t)
			tc.RateLimit = &c
			if !c.ok() {
				fmt.Printf("WARNING: %s: %s\n", t.ID, c.note())
			}
		}
	}
	return tc
}

// err is the failed checks, for the harness's exit status: a figure
// measured with lost lines or refused requests is not the figure the
// bench means.
func (tc trafficChecks) err() error {
	var bad []string
	if c := tc.AccessLog; c != nil && !c.ok() {
		bad = append(bad, tOutriggerALog+": "+c.note())
	}
	if c := tc.RateLimit; c != nil && !c.ok() {
		bad = append(bad, tOutriggerRate+": "+c.note())
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.New("traffic-control checks failed (results written all the same):\n  " + strings.Join(bad, "\n  "))
}
