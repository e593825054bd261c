package main

import (
	"fmt"
	"math"
	"strings"
)

// trafficFeature is one traffic-control target and issue 13's limit on
// what it may cost in throughput against the plain target.
type trafficFeature struct {
	ID, Name string
	MaxCost  float64 // the most throughput it may cost: 0.05 is 5 %
}

var trafficFeatures = []trafficFeature{
	{tOutriggerALog, "access log (JSON, to a file)", 0.05},
	{tOutriggerRate, "rate limit, not reached", 0.02},
}

// trafficCompare is a traffic-control target against the plain one: the
// pair comparison of the routing and mesh sections, and the medians of the
// same-round ratios, which the verdict uses (see sameRound).
type trafficCompare struct {
	pairCompare
	Feature        trafficFeature
	RPSMed, CPUMed float64 // medians over rounds of feature / plain of the same round
	Rounds         int
}

func compareTraffic(s summary, f trafficFeature) (trafficCompare, bool) {
	c, ok := comparePair(s, tOutrigger, f.ID)
	if !ok {
		return trafficCompare{}, false
	}
	sr := sameRoundRatios(c.A, c.B)
	t := trafficCompare{pairCompare: c, Feature: f, RPSMed: sr.RPS, CPUMed: sr.CPU, Rounds: sr.Rounds}
	return t, t.Rounds > 0
}

// cost is the throughput the feature costs, 1 − the median of the
// same-round ratios, in per cent rounded to the 0.1 shown (so that 0.950×
// is 5.0 %; + 0 turns a -0 into 0).
func (c trafficCompare) cost() float64 { return math.Round((1-c.RPSMed)*1000)/10 + 0 }

// verdict says whether the cost is within the feature's limit.
func (c trafficCompare) verdict() string {
	if c.cost() <= c.Feature.MaxCost*100 {
		return "**PASS**"
	}
	return "**MISS**"
}

// trafficMinRounds is the fewest rounds whose same-round median decides a
// limit of a few per cent here: with make bench's 3, one round where the
// core switched speed between the two runs is the median (single rounds
// range over ±20 %), so the verdict is shown as indicative only.
const trafficMinRounds = 7

// verdictNote is the verdict with, below trafficMinRounds, a word that it
// decides nothing.
func (c trafficCompare) verdictNote() string {
	if c.Rounds >= trafficMinRounds {
		return c.verdict()
	}
	return fmt.Sprintf("%s (indicative: %d rounds, too few to decide; %d or more do)", c.verdict(), c.Rounds, trafficMinRounds)
}

// trafficReport is the traffic-control section of results.md.
func trafficReport(s summary, o options, in runInfo) string {
	var cs []trafficCompare
	for _, f := range trafficFeatures {
		if c, ok := compareTraffic(s, f); ok {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return ""
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	plain := cs[0].A
	p("\n## Traffic control: access log and rate limit\n\n")
	p("The same Outrigger binary, defaults and upstream as `%s`, measured in the same rounds, with one feature on: `%s` writes the access log (`access_log: {enabled: true, path: WORKDIR/%s.access.log, format: json}`: a line per request, queued on the request path, formatted and written by the log's own goroutine on the same core); `%s` has `rate_limit: {requests_per_second: %d}` on the upstream (burst the same, by default), far above what the bench offers, so every request takes a token and none is refused. Issue 13's limits: the access log may cost at most 5 %% of throughput, a rate limit that is not reached at most 2 %%.\n\n",
		tOutrigger, tOutriggerALog, tOutriggerALog, tOutriggerRate, rateLimitRPS)
	p("Two ratios per figure: *of the medians* is feature / plain of the medians above, in brackets the lowest and highest ratio of a single round (as in the routing and mesh sections); *same-round* is the median over the %d rounds of feature / plain of the same round, which the verdict uses: on this machine a core switches, for seconds at a time, between two speeds about 1.5× apart, and the median of one target's rounds can be a slow run while the other's is a fast one, which moves the ratio of the medians by up to 20 %% with nothing changed; runs of one round are seconds apart. Differences are feature − plain: of the CPU medians, and the medians over rounds of the same-round latency differences.\n\n",
		cs[0].Rounds)
	row := func(name string, plainCell string, cell func(c trafficCompare) string) {
		p("| %s | %s |", name, plainCell)
		for _, c := range cs {
			p(" %s |", cell(c))
		}
		p("\n")
	}
	p("| | %s |", plain.T.Label)
	for _, c := range cs {
		p(" %s |", c.B.T.Label)
	}
	p("\n|---|--:|%s\n", strings.Repeat("--:|", len(cs)))
	row("throughput req/s", thousands(plain.RPS), func(c trafficCompare) string { return thousands(c.B.RPS) })
	row("feature / plain, of the medians", "", func(c trafficCompare) string {
		return fmt.Sprintf("%.3f× [%.3f–%.3f]", c.RPS, c.RPSLo, c.RPSHi)
	})
	row("feature / plain, same-round", "", func(c trafficCompare) string { return fmt.Sprintf("**%.3f×**", c.RPSMed) })
	row("CPU µs per request", fmt.Sprintf("%.1f", plain.CPUPer1k*1000), func(c trafficCompare) string {
		return fmt.Sprintf("%.1f (%+.1f)", c.B.CPUPer1k*1000, c.CPUDiff)
	})
	row("feature / plain, of the medians", "", func(c trafficCompare) string {
		return fmt.Sprintf("%.3f× [%.3f–%.3f]", c.CPU, c.CPULo, c.CPUHi)
	})
	row("feature / plain, same-round", "", func(c trafficCompare) string { return fmt.Sprintf("**%.3f×**", c.CPUMed) })
	row(fmt.Sprintf("p50 / p99 at %d req/s", o.Rate), fmt.Sprintf("%.0f / %.0f µs", plain.P50, plain.P99), func(c trafficCompare) string {
		return fmt.Sprintf("%.0f / %.0f µs (%+.0f / %+.0f)", c.B.P50, c.B.P99, c.P50Diff, c.P99Diff)
	})
	row("RSS peak", fmt.Sprintf("%.1f MiB", plain.PeakMiB), func(c trafficCompare) string { return fmt.Sprintf("%.1f MiB", c.B.PeakMiB) })
	row("throughput cost (same-round)", "", func(c trafficCompare) string { return fmt.Sprintf("%.1f %%", c.cost()) })
	row("issue 13's limit", "", func(c trafficCompare) string { return fmt.Sprintf("≤ %.0f %%", 100*c.Feature.MaxCost) })
	row("result", "", func(c trafficCompare) string { return c.verdictNote() })
	p("\n")
	for _, c := range cs {
		p("- **%s**: same-round, %.1f%% %s throughput than plain and %.1f%% %s CPU per request.",
			strings.ToUpper(c.Feature.Name[:1])+c.Feature.Name[1:], 100*abs(c.RPSMed-1), moreLess(c.RPSMed), 100*abs(c.CPUMed-1), moreLess(c.CPUMed))
		switch {
		case c.Feature.ID == tOutriggerALog && in.Traffic.AccessLog != nil:
			p(" Check: %s.", in.Traffic.AccessLog.note())
		case c.Feature.ID == tOutriggerRate && in.Traffic.RateLimit != nil:
			p(" Check: %s.", in.Traffic.RateLimit.note())
		}
		p("\n")
	}
	p("\nA throughput ratio is capped by CPU %s (the backend and the load generators) as much as by the proxy core: CPU per request is the figure that does not depend on that. A difference of a few per cent is within the noise of %d rounds: for a figure to keep, run the three alone with more rounds, twice (`make bench-proxies BENCH_FLAGS='-targets %s,%s,%s -rounds 11'`), and profile (`outrigger run -pprof`, then `/debug/pprof/profile` on the admin API) for what the feature's own code costs.\n",
		o.LoadCPU, cs[0].Rounds, tOutrigger, tOutriggerALog, tOutriggerRate)
	return b.String()
}

// trafficStdout is the traffic-control summary printed at the end of a run.
func trafficStdout(s summary, in runInfo) string {
	var b strings.Builder
	for _, f := range trafficFeatures {
		c, ok := compareTraffic(s, f)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n%s / plain: throughput same-round %.3f× (cost %.1f %%, limit %.0f %%: %s), of the medians %.3f× [rounds %.3f–%.3f]; CPU per request same-round %.3f×, of the medians %.3f× [rounds %.3f–%.3f] (%.1f vs %.1f µs, %+.1f); p50 %+.0f µs, p99 %+.0f µs\n",
			f.Name, c.RPSMed, c.cost(), 100*f.MaxCost, strings.ReplaceAll(c.verdictNote(), "*", ""), c.RPS, c.RPSLo, c.RPSHi,
			c.CPUMed, c.CPU, c.CPULo, c.CPUHi, c.B.CPUPer1k*1000, c.A.CPUPer1k*1000, c.CPUDiff, c.P50Diff, c.P99Diff)
		if f.ID == tOutriggerALog && in.Traffic.AccessLog != nil {
			fmt.Fprintf(&b, "access-log check: %s\n", in.Traffic.AccessLog.note())
		}
		if f.ID == tOutriggerRate && in.Traffic.RateLimit != nil {
			fmt.Fprintf(&b, "rate-limit check: %s\n", in.Traffic.RateLimit.note())
		}
	}
	return b.String()
}

// trafficFeaturesNote is what the Features line of results.md says about
// the traffic-control targets, when any ran.
func trafficFeaturesNote(s summary) string {
	var ids []string
	for _, f := range trafficFeatures {
		if s.row(f.ID) != nil {
			ids = append(ids, "`"+f.ID+"`")
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf(" The traffic-control targets (%s) are the plain Outrigger target with the access log on, or with a rate limit that is never reached (see *Traffic control* below).",
		strings.Join(ids, ", "))
}
