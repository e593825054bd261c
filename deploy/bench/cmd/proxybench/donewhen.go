package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Issue 14's "done when", on one core with every feature on: at 16 and at
// 64 connections, throughput ≥ 0.95 × HAProxy's, CPU per request ≤ 1.10 ×
// HAProxy's, added p50 and p99 at 2,000 req/s ≤ 1.0 × HAProxy's; tracing
// at 1 % within 3 % of plain in throughput and CPU; RSS idle ≤ 15 MiB.
const (
	doneTputMin   = 0.95
	doneCPUMax    = 1.10
	doneLatMax    = 1.0
	doneTraceMax  = 0.03
	doneIdleMiB   = 15.0
	doneHighConns = 64 // the second connection count the figures are required at
)

// doneCheck is one figure against its limit.
type doneCheck struct {
	At, Figure, Limit, Value string
	Pass, Known              bool
}

func (c doneCheck) verdict() string {
	switch {
	case !c.Known:
		return "n/a"
	case c.Pass:
		return "PASS"
	default:
		return "MISS"
	}
}

// doneConns are the connection counts the HAProxy figures are checked at:
// the run's own, 64, and any other of a 1 KiB variant that ran.
func doneConns(s summary) []int {
	cs := []int{s.Main.Conns, doneHighConns}
	for _, g := range s.groups() {
		if !g.Big {
			cs = append(cs, g.Conns)
		}
	}
	slices.Sort(cs)
	return slices.Compact(cs)
}

// doneWhen is every check of the issue, in the order results.md lists
// them. Throughput and CPU per request use the same-round ratios (see
// sameRound); added latency is already a same-round difference (against
// direct of the same round and group), so its medians are compared.
func doneWhen(s summary) []doneCheck {
	var cs []doneCheck
	for _, n := range doneConns(s) {
		g := loadGroup{Conns: n}
		at := fmt.Sprintf("%d conns", n)
		o, h := s.ref(tOutrigger, g), s.ref(tHAProxy, g)
		figures := []string{"throughput", "CPU per request", "added p50 at 2,000 req/s", "added p99 at 2,000 req/s"}
		limits := []string{
			fmt.Sprintf("≥ %.2f × HAProxy's", doneTputMin), fmt.Sprintf("≤ %.2f × HAProxy's", doneCPUMax),
			fmt.Sprintf("≤ %.1f × HAProxy's", doneLatMax), fmt.Sprintf("≤ %.1f × HAProxy's", doneLatMax),
		}
		if o == nil || h == nil {
			missing := "Outrigger and HAProxy were"
			if o != nil {
				missing = "HAProxy was"
			} else if h != nil {
				missing = "Outrigger was"
			}
			for i, f := range figures {
				cs = append(cs, doneCheck{At: at, Figure: f, Limit: limits[i], Value: missing + " not measured at " + at})
			}
			continue
		}
		sr, rr := sameRoundRatios(h, o), roundRanges(h, o)
		cs = append(cs,
			doneCheck{At: at, Figure: figures[0], Limit: limits[0], Known: sr.Rounds > 0, Pass: sr.RPS >= doneTputMin,
				Value: fmt.Sprintf("%.3f× same-round [rounds %.3f–%.3f] (%s vs %s req/s)", sr.RPS, rr.RPSLo, rr.RPSHi, thousands(o.RPS), thousands(h.RPS))},
			doneCheck{At: at, Figure: figures[1], Limit: limits[1], Known: sr.Rounds > 0, Pass: sr.CPU <= doneCPUMax,
				Value: fmt.Sprintf("%.3f× same-round [rounds %.3f–%.3f] (%.1f vs %.1f µs)", sr.CPU, rr.CPULo, rr.CPUHi, o.CPUPer1k*1000, h.CPUPer1k*1000)},
			latCheck(at, figures[2], limits[2], o.AddP50, h.AddP50),
			latCheck(at, figures[3], limits[3], o.AddP99, h.AddP99),
		)
	}
	o, tr := s.ref(tOutrigger, s.Main), s.ref(tOutriggerTrce, s.Main)
	at := fmt.Sprintf("%d conns", s.Main.Conns)
	if o != nil && tr != nil {
		sr, rr := sameRoundRatios(o, tr), roundRanges(o, tr)
		cs = append(cs,
			doneCheck{At: at, Figure: "tracing 1 % / plain: throughput", Limit: fmt.Sprintf("≥ %.2f×", 1-doneTraceMax),
				Known: sr.Rounds > 0, Pass: sr.RPS >= 1-doneTraceMax,
				Value: fmt.Sprintf("%.3f× same-round [rounds %.3f–%.3f]", sr.RPS, rr.RPSLo, rr.RPSHi)},
			doneCheck{At: at, Figure: "tracing 1 % / plain: CPU per request", Limit: fmt.Sprintf("≤ %.2f×", 1+doneTraceMax),
				Known: sr.Rounds > 0, Pass: sr.CPU <= 1+doneTraceMax,
				Value: fmt.Sprintf("%.3f× same-round [rounds %.3f–%.3f]", sr.CPU, rr.CPULo, rr.CPUHi)})
	} else {
		for _, f := range []string{"tracing 1 % / plain: throughput", "tracing 1 % / plain: CPU per request"} {
			cs = append(cs, doneCheck{At: at, Figure: f, Limit: fmt.Sprintf("within %.0f %%", 100*doneTraceMax),
				Value: "needs " + tOutrigger + " and " + tOutriggerTrce})
		}
	}
	c := doneCheck{At: "idle", Figure: "RSS idle", Limit: fmt.Sprintf("≤ %.0f MiB", doneIdleMiB), Value: "needs " + tOutrigger}
	if o != nil {
		c.Known, c.Pass, c.Value = true, o.IdleMiB <= doneIdleMiB, fmt.Sprintf("%.1f MiB", o.IdleMiB)
	}
	return append(cs, c)
}

// latCheck is an added-latency figure: Outrigger's median against k times
// HAProxy's.
func latCheck(at, figure, limit string, o, h float64) doneCheck {
	if math.IsNaN(o) || math.IsNaN(h) {
		return doneCheck{At: at, Figure: figure, Limit: limit, Value: "no added latency: direct was not measured at " + at}
	}
	return doneCheck{At: at, Figure: figure, Limit: limit, Known: true, Pass: o <= doneLatMax*h,
		Value: fmt.Sprintf("%.0f vs %.0f µs (%s)", o, h, ratio(o, h))}
}

// doneWhenReport is the "Done when" section of results.md.
func doneWhenReport(s summary, o options) string {
	cs := doneWhen(s)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## Done when (issue 14)\n\n")
	p("On one core with every default feature on: at %s, Outrigger's throughput ≥ %.2f × HAProxy's, CPU per request ≤ %.2f × HAProxy's, added p50 and p99 at %d req/s ≤ %.1f × HAProxy's; tracing at 1 %% within %.0f %% of plain (throughput and CPU per request); RSS idle ≤ %.0f MiB. Ratios are Outrigger / HAProxy (or tracing / plain); throughput and CPU per request use the median of the same-round ratios (what the traffic-control verdicts use), in brackets the lowest and highest single round; added latency compares the medians of each target's added latency, itself a same-round difference against direct of the same connections.",
		joinConns(doneConns(s)), doneTputMin, doneCPUMax, o.Rate, doneLatMax, 100*doneTraceMax, doneIdleMiB)
	if o.Rounds < trafficMinRounds {
		p(" With %d rounds a figure within a few per cent of its limit is not settled (%d or more rounds, twice, are).", o.Rounds, trafficMinRounds)
	}
	if n, all := disturbedRuns(s); n > 0 {
		p(" ⚠ %d of %d runs had more than %.2f cores of other load (see *Other load* above): these verdicts say little; run it again on a quiet machine.", n, all, disturbed)
	}
	p("\n\n| at | figure | limit | measured | result |\n|---|---|---|---|---|\n")
	for _, c := range cs {
		v := c.verdict()
		if c.Known {
			v = "**" + v + "**"
		}
		p("| %s | %s | %s | %s | %s |\n", c.At, c.Figure, c.Limit, c.Value, v)
	}
	return b.String()
}

// doneWhenStdout is the same in a few lines.
func doneWhenStdout(s summary) string {
	var b strings.Builder
	b.WriteString("\ndone when (issue 14):\n")
	for _, c := range doneWhen(s) {
		fmt.Fprintf(&b, "  %-9s %-38s %-22s %-60s %s\n", c.At, c.Figure, c.Limit, c.Value, c.verdict())
	}
	return b.String()
}

func joinConns(cs []int) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprint(c))
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "") + " connections"
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + " connections"
}

// disturbedRuns counts the runs with more than disturbed cores of other
// load, of all runs.
func disturbedRuns(s summary) (n, all int) {
	xs := otherLoads(s)
	for _, x := range xs {
		if x > disturbed {
			n++
		}
	}
	return n, len(xs)
}
