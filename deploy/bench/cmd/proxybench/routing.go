package main

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// routeCheck is what the routing listener's own counters
// (outrigger_listener_requests_total{listener,route,code}) say after all
// runs: that every request the bench sent took the last route and got 200.
type routeCheck struct {
	CatchAll200 float64            // requests on the catch-all route answered 200
	Others      map[string]float64 // any other "route code" pair: should be none
	Want        float64            // at least this many: wrk's completed requests plus vegeta's successful ones
	Err         error              // the counters could not be read
}

func (c routeCheck) ok() bool {
	return c.Err == nil && len(c.Others) == 0 && c.CatchAll200 >= c.Want && c.CatchAll200 > 0
}

// note is one sentence for results.md and stdout.
func (c routeCheck) note() string {
	if c.Err != nil {
		return fmt.Sprintf("⚠ the routing listener's counters could not be read: %v", c.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the listener counted %s requests on route `%s` with status 200 (the measured runs completed %s; the rest are warm-up and readiness probes)",
		thousands(c.CatchAll200), routingCatchAll, thousands(c.Want))
	if len(c.Others) == 0 {
		b.WriteString(" and none on any other route or with any other status")
	} else {
		keys := make([]string, 0, len(c.Others))
		for k := range c.Others {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %s", k, thousands(c.Others[k])))
		}
		fmt.Fprintf(&b, "; ⚠ but also (route code: requests) %s", strings.Join(parts, ", "))
	}
	if c.CatchAll200 < c.Want {
		b.WriteString("; ⚠ fewer than the measured runs completed")
	}
	return b.String()
}

var (
	reListenerReqs = regexp.MustCompile(`^outrigger_listener_requests_total\{([^}]*)\}\s+(\S+)`)
	reLabel        = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// checkRoutes reads the routing target's /metrics (bounded: 5 s).
func checkRoutes(t *target) routeCheck {
	c := routeCheck{Others: map[string]float64{}}
	for _, w := range t.Tput {
		c.Want += float64(w.Requests)
	}
	for _, l := range t.Lat {
		c.Want += float64(l.OK)
	}
	cl := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + t.Admin + "/metrics")
	if err != nil {
		c.Err = err
		return c
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Err = fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
		return c
	}
	seen := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := reListenerReqs.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range reLabel.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		if labels["listener"] != routingListener {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			c.Err = fmt.Errorf("bad sample %q", sc.Text())
			return c
		}
		seen = true
		if labels["route"] == routingCatchAll && labels["code"] == "200" {
			c.CatchAll200 += v
		} else if v > 0 {
			c.Others[fmt.Sprintf("%q %s", labels["route"], labels["code"])] += v
		}
	}
	if err := sc.Err(); err != nil {
		c.Err = err
	} else if !seen {
		c.Err = fmt.Errorf("no outrigger_listener_requests_total{listener=%q} in /metrics", routingListener)
	}
	return c
}

// routingCompare is the routing target against the plain one: ratios of
// their medians, and the range of the same-round ratios.
type routingCompare struct {
	Plain, Routing *row
	// routing / plain
	RPS, CPU, P50, P99, Peak float64
	roundRange
}

// roundRange is the lowest and highest b/a ratio of a single round (same
// round, so the same machine state), for throughput and CPU per request.
type roundRange struct{ RPSLo, RPSHi, CPULo, CPUHi float64 }

// roundRanges compares two targets round by round.
func roundRanges(a, b *row) roundRange {
	var c roundRange
	first := true
	for i := range min(len(a.T.Tput), len(b.T.Tput)) {
		p, q := a.T.Tput[i], b.T.Tput[i]
		if p.RPS == 0 || p.CPUPer1k == 0 {
			continue
		}
		x, y := q.RPS/p.RPS, q.CPUPer1k/p.CPUPer1k
		if first {
			c.RPSLo, c.RPSHi, c.CPULo, c.CPUHi = x, x, y, y
			first = false
		}
		c.RPSLo, c.RPSHi = min(c.RPSLo, x), max(c.RPSHi, x)
		c.CPULo, c.CPUHi = min(c.CPULo, y), max(c.CPUHi, y)
	}
	return c
}

func compareRouting(s summary) (routingCompare, bool) {
	p, r := s.row(tOutrigger), s.row(tOutriggerRoute)
	if p == nil || r == nil || p.RPS == 0 || p.CPUPer1k == 0 {
		return routingCompare{}, false
	}
	c := routingCompare{Plain: p, Routing: r,
		RPS: r.RPS / p.RPS, CPU: r.CPUPer1k / p.CPUPer1k, P50: r.P50 / p.P50, P99: r.P99 / p.P99, Peak: r.PeakMiB / p.PeakMiB,
		roundRange: roundRanges(p, r)}
	return c, true
}
