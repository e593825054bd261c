package main

import (
	"fmt"
	"strings"
)

// groupReports are the tables of the variant groups (64 connections,
// 64 KiB responses): each target against direct and HAProxy of its own
// group, measured in the same rounds as the main table.
func groupReports(s summary, o options) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	for _, g := range s.groups() {
		h := s.ref(tHAProxy, g)
		p("\n## %s\n\n", strings.ToUpper(g.String()[:1])+g.String()[1:])
		p("The same proxies and configs as above, each a process of its own, measured in the same interleaved rounds with %d connections (wrk `-c`, and vegeta's most connections) and a %s body (the backend answers `%s` with 64 KiB, anything else with 1 KiB). Ratios in parentheses are to HAProxy's figure of this table; *same-round* is the median over the rounds of target / HAProxy of the same round (see *Done when*); added latency is against direct of this table.\n\n",
			g.Conns, map[bool]string{false: "1 KiB", true: "64 KiB"}[g.Big], bigPath)
		p("| target | throughput req/s | × direct | same-round × HAProxy | added p50 | added p99 | p50 / p99 | CPU µs per request | same-round × HAProxy | proxy core busy | RSS peak |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, r := range s.Rows {
			if r.Group != g {
				continue
			}
			ref := h
			if r.T.Base == tHAProxy {
				ref = nil
			}
			tp := withRatio(thousands(r.RPS), r.RPS, ref, func(x *row) float64 { return x.RPS })
			if !r.T.isProxy() {
				p("| %s | %s | 1.00× | | — | — | %.0f / %.0f µs | — | | — | — |\n", r.T.Label, tp, r.P50, r.P99)
				continue
			}
			srT, srC := "", ""
			if ref != nil {
				if sr := sameRoundRatios(ref, &r); sr.Rounds > 0 {
					srT, srC = fmt.Sprintf("%.3f×", sr.RPS), fmt.Sprintf("%.3f×", sr.CPU)
				}
			}
			p("| %s | %s | %.2f× | %s | %s | %s | %.0f / %.0f µs | %s | %s | %.0f%% | %.1f MiB |\n",
				r.T.Label, tp, r.VsDirect, srT,
				withRatio(fmt.Sprintf("%.0f µs", r.AddP50), r.AddP50, ref, func(x *row) float64 { return x.AddP50 }),
				withRatio(fmt.Sprintf("%.0f µs", r.AddP99), r.AddP99, ref, func(x *row) float64 { return x.AddP99 }),
				r.P50, r.P99,
				withRatio(fmt.Sprintf("%.1f", r.CPUPer1k*1000), r.CPUPer1k, ref, func(x *row) float64 { return x.CPUPer1k }),
				srC, r.Busy*100, r.PeakMiB)
		}
		if left := leftOut(s, g); left != "" {
			p("\nNot measured here by default (to keep `make bench` near 12 minutes): %s; add them with `-targets`, e.g. `BENCH_FLAGS='-targets %s'`.\n", left, strings.ReplaceAll(left, "`", ""))
		}
	}
	return b.String()
}

// leftOut names the proxies of the main table that g lacks, among the
// ones the variants compare (Outrigger, HAProxy, nginx).
func leftOut(s summary, g loadGroup) string {
	var ids []string
	for _, base := range []string{tOutrigger, tHAProxy, tNginx} {
		if s.ref(base, s.Main) != nil && s.ref(base, g) == nil {
			id := base
			if g.Big {
				id += bigSuffix
			}
			if g.Conns != s.Main.Conns {
				id += fmt.Sprintf("@%d", g.Conns)
			}
			ids = append(ids, "`"+id+"`")
		}
	}
	return strings.Join(ids, ", ")
}

// flameReport is the flame graph's section of results.md.
func flameReport(f *flameResult) string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## Where Outrigger's CPU goes\n\n")
	p("[%s](%s): a flame graph of a CPU profile of %d seconds (%d samples) of %s, at %s req/s. After the rounds the harness starts one more Outrigger with the plain target's config (`%s`), runs wrk at it and meanwhile fetches `/debug/pprof/profile?seconds=%d` from its admin API; the graph is drawn by the harness (boxes as wide as their samples, callers below callees; open it in a browser and hover a box for its full name and count). The frames with the most samples as the innermost frame:\n\n",
		f.File, f.File, f.Seconds, f.Samples, f.Profiled, thousands(f.WrkRPS), f.CmdLine, f.Seconds)
	p("| frame | self samples | share |\n|---|--:|--:|\n")
	for _, t := range f.Top {
		p("| `%s` | %d | %.1f %% |\n", t.Name, t.Self, 100*float64(t.Self)/float64(f.Samples))
	}
	return b.String()
}
