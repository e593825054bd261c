package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one target's figures: medians over the rounds.
type row struct {
	T                      *target
	RPS, VsDirect          float64
	CPUPer1k, Busy         float64 // CPU s per 1,000 requests; share of the proxy core used in the wrk runs
	P50, P99, P999         float64 // absolute latency, µs
	AddP50, AddP99, Add999 float64 // proxied minus direct, same round, µs
	IdleMiB, PeakMiB       float64
	Errors                 int64
	Group                  loadGroup // connections and body: direct and HAProxy of the same group are its references
}

type summary struct {
	Rows    []row
	HAProxy *row // of the main group (-conns, 1 KiB); nil when HAProxy was not measured
	Direct  *row
	Main    loadGroup
}

// ref is the row of base (direct, haproxy) in group g, or nil.
func (s summary) ref(base string, g loadGroup) *row {
	for i := range s.Rows {
		if r := &s.Rows[i]; r.T.Base == base && r.Group == g {
			return r
		}
	}
	return nil
}

// groups are the groups of the rows but the main one, in order of first
// appearance.
func (s summary) groups() []loadGroup {
	var gs []loadGroup
	for _, r := range s.Rows {
		if r.Group != s.Main && !slices.Contains(gs, r.Group) {
			gs = append(gs, r.Group)
		}
	}
	return gs
}

func (s summary) row(id string) *row {
	for i := range s.Rows {
		if s.Rows[i].T.ID == id {
			return &s.Rows[i]
		}
	}
	return nil
}

// summarize takes the medians over rounds. Added latency is against direct
// of the target's group. A target whose latency runs are at another rate
// than direct's (-noreuse-rate) has no added latency.
func summarize(ts []*target, o options) summary {
	directs := map[loadGroup]*target{}
	for _, t := range ts {
		if t.Base == tDirect {
			directs[t.group(o)] = t
		}
	}
	s := summary{Main: loadGroup{Conns: o.Conns}}
	for _, t := range ts {
		r := row{T: t, Group: t.group(o)}
		direct := directs[r.Group]
		var rps, cpu, busy, p50, p99, p999, a50, a99, a999 []float64
		for _, w := range t.Tput {
			rps = append(rps, w.RPS)
			r.Errors += w.Errors + w.Non2xx
			if t.isProxy() {
				cpu = append(cpu, w.CPUPer1k)
				if w.Seconds > 0 {
					busy = append(busy, float64(w.CPUTicks)/clockTicksCached()/w.Seconds)
				}
			}
		}
		for i, l := range t.Lat {
			r.Errors += int64(l.Errors)
			p50 = append(p50, micros(l.P50))
			p99 = append(p99, micros(l.P99))
			p999 = append(p999, micros(l.P999))
			if direct != nil && i < len(direct.Lat) {
				d := direct.Lat[i]
				a50 = append(a50, micros(l.P50)-micros(d.P50))
				a99 = append(a99, micros(l.P99)-micros(d.P99))
				a999 = append(a999, micros(l.P999)-micros(d.P999))
			}
		}
		r.RPS, r.CPUPer1k, r.Busy = median(rps), median(cpu), median(busy)
		r.P50, r.P99, r.P999 = median(p50), median(p99), median(p999)
		r.AddP50, r.AddP99, r.Add999 = median(a50), median(a99), median(a999)
		if t.rate(o) != o.Rate || direct == nil {
			r.AddP50, r.AddP99, r.Add999 = math.NaN(), math.NaN(), math.NaN()
		}
		r.IdleMiB, r.PeakMiB = float64(t.IdleKB)/1024, float64(t.PeakKB)/1024
		s.Rows = append(s.Rows, r)
	}
	s.Direct = s.ref(tDirect, s.Main)
	s.HAProxy = s.ref(tHAProxy, s.Main)
	for i := range s.Rows {
		if d := s.ref(tDirect, s.Rows[i].Group); d != nil && d.RPS > 0 {
			s.Rows[i].VsDirect = s.Rows[i].RPS / d.RPS
		}
	}
	return s
}

var clockTicksValue float64

func clockTicksCached() float64 {
	if clockTicksValue == 0 {
		clockTicksValue = clockTicks()
	}
	return clockTicksValue
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }

// ratio formats v/ref as "1.23×", or "" when there is no reference.
func ratio(v, ref float64) string {
	if ref == 0 || math.IsNaN(ref) || math.IsNaN(v) {
		return ""
	}
	return fmt.Sprintf("%.2f×", v/ref)
}

func withRatio(val string, v float64, ref *row, get func(*row) float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if ref == nil {
		return val
	}
	r := ratio(v, get(ref))
	if r == "" {
		return val
	}
	return val + " (" + r + ")"
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// check is one of issue 7's targets, for one Outrigger variant.
type check struct {
	Name, Limit, Value string
	Pass               bool
	Known              bool
}

func checks(s summary, id string) []check {
	o := s.row(id)
	h := s.HAProxy
	if o == nil {
		return nil
	}
	var cs []check
	rel := func(name string, v, hv, k float64, le bool, unit string, f string) {
		c := check{Name: name}
		if h == nil {
			c.Limit, c.Value = "needs HAProxy", fmt.Sprintf(f, v)+unit
			cs = append(cs, c)
			return
		}
		lim := k * hv
		c.Known = true
		if le {
			c.Pass = v <= lim
			c.Limit = fmt.Sprintf("≤ %.1f × HAProxy's "+f+"%s = "+f+"%s", k, hv, unit, lim, unit)
		} else {
			c.Pass = v >= lim
			c.Limit = fmt.Sprintf("≥ %.1f × HAProxy's "+f+"%s = "+f+"%s", k, hv, unit, lim, unit)
		}
		c.Value = fmt.Sprintf(f, v) + unit + " (" + ratio(v, hv) + ")"
		cs = append(cs, c)
	}
	hv := func(get func(*row) float64) float64 {
		if h == nil {
			return 0
		}
		return get(h)
	}
	rel("throughput (req/s)", o.RPS, hv(func(r *row) float64 { return r.RPS }), 0.8, false, "", "%.0f")
	rel("added p50 at 2,000 req/s", o.AddP50, hv(func(r *row) float64 { return r.AddP50 }), 1.5, true, " µs", "%.0f")
	rel("added p99 at 2,000 req/s", o.AddP99, hv(func(r *row) float64 { return r.AddP99 }), 1.5, true, " µs", "%.0f")
	rel("CPU per 1,000 requests", o.CPUPer1k*1000, hv(func(r *row) float64 { return r.CPUPer1k * 1000 }), 1.5, true, " ms", "%.1f")
	abs := func(name string, v, lim float64) {
		cs = append(cs, check{Name: name, Limit: fmt.Sprintf("≤ %.0f MiB", lim),
			Value: fmt.Sprintf("%.1f MiB", v), Pass: v <= lim, Known: true})
	}
	abs("RSS idle", o.IdleMiB, 20)
	abs("RSS peak under load", o.PeakMiB, 40)
	return cs
}

func verdict(c check) string {
	switch {
	case !c.Known:
		return "n/a"
	case c.Pass:
		return "**PASS**"
	default:
		return "**MISS**"
	}
}

func renderMarkdown(in runInfo, s summary, o options) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Proxy comparison: Outrigger, HAProxy, nginx\n\n")
	p("The latest figures of `make bench` (`deploy/bench/run.sh`); this file and `results.png` are overwritten by every run.\n\n")
	p("- **Date**: %s; the whole run took %s.\n", in.Date, in.Elapsed.Round(time.Second))
	p("- **Machine**: %s CPUs online (`nproc`), %s; %s; load average (1, 5, 15 min) %s before the run (under `make bench` it includes the Go benchmarks just before), %s after.\n",
		in.CPUs, in.Machine, in.Kernel, in.LoadAvg[0], in.LoadAvg[1])
	p("- **Other load**: %s\n", otherLoadNote(s, in))
	p("- **Versions**: %s.\n", strings.Join(in.Versions, "; "))
	p("- **Setup**: one backend (`proxybench backend -kind %s`: a minimal Go HTTP/1.1 keep-alive responder, 200 with a 1 KiB body, or 64 KiB for a path starting with `/64k`) and the load generators on CPU %s; each proxy alone on CPU %s (`taskset -c %s`, and `GOMAXPROCS=1` for Outrigger), one upstream server, keep-alive on both sides. Everything on 127.0.0.1.\n",
		o.BackendKind, o.LoadCPU, o.ProxyCPU, o.ProxyCPU)
	p("- **Features**: Outrigger with its defaults (`least_conn`, outlier detection and circuit breaker on, retries 1, metrics), log level warn, tracing off, and twice more with the same binary and defaults: once with the client calling a routing listener (`listeners:`, %d routes of which the benchmark request `GET /` matches only the last, `path_prefix: /`, to the same upstream; the nine before it match other hosts, path prefixes, an exact path, headers and methods, config below), and once with tracing at 1%% (`exporter: otlp` to a closed loopback port, so the figure is the sampling and export-attempt cost); HAProxy `balance leastconn`, `nbthread 1`, `http-reuse always`, `option forwardfor`, no logs; nginx `least_conn`, `worker_processes 1`, upstream `keepalive 32`, `proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, `X-Forwarded-For`, no access log, `keepalive_requests 1000000` on both sides (its default of 1,000 would close client connections every 1,000 requests); go-floor, a reference rather than a proxy, is `proxybench forward` (deploy/bench/cmd/proxybench/forward.go): a Go keep-alive forwarder with no `net/http` types and none of Outrigger's features, but its pooled-connection check and its yields, `GOMAXPROCS=1` — the distance between it and Outrigger is what Outrigger's request path costs over Go's own floor. Every proxy appends `X-Forwarded-For`, as Outrigger does.%s\n", routingRoutes, trafficFeaturesNote(s)+meshFeatures(s, o))
	p("- **Method**: %d rounds, interleaved: in each round every target gets one wrk run, then every target one vegeta run, in round-robin order starting one target later each round; after a warm-up per target (wrk, then vegeta, %s each). Figures are medians over the rounds. Throughput: wrk, closed loop, 1 thread, %d connections (a target `ID@N`: N), %s per run. Latency: vegeta, open loop at a fixed %d req/s for %s, at most as many connections as wrk's; requests are sent on the rate's schedule whatever the answers do (vegeta adds workers rather than send later), and a request's latency includes any wait for a free connection, so there is no coordinated omission; *added* latency is the proxied percentile minus direct's in the same round. CPU: utime+stime of the proxy's processes (nginx: master and worker) from `/proc/<pid>/stat` over each wrk run, divided by the requests wrk completed. RSS: `VmRSS` one second after start (idle), `VmHWM` after all runs (peak), summed over the proxy's processes.\n\n",
		o.Rounds, o.Warmup, o.Conns, o.TputDur, o.Rate, o.LatDur)

	p("## Results\n\n")
	p("Ratios in parentheses are to HAProxy's figure from the same run.\n\n")
	p("| target | throughput req/s | × direct | added p50 | added p99 | added p99.9 | CPU s per 1,000 req | proxy core busy | RSS idle | RSS peak |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range s.Rows {
		if r.Group != s.Main {
			continue
		}
		h := s.HAProxy
		if r.T.ID == tHAProxy {
			h = nil
		}
		tp := withRatio(thousands(r.RPS), r.RPS, h, func(x *row) float64 { return x.RPS })
		if !r.T.isProxy() {
			p("| %s | %s | 1.00× | — | — | — | — | — | — | — |\n", r.T.Label, tp)
			continue
		}
		p("| %s | %s | %.2f× | %s | %s | %s | %s | %.0f%% | %s | %s |\n",
			r.T.Label, tp, r.VsDirect,
			withRatio(fmt.Sprintf("%.0f µs", r.AddP50), r.AddP50, h, func(x *row) float64 { return x.AddP50 }),
			withRatio(fmt.Sprintf("%.0f µs", r.AddP99), r.AddP99, h, func(x *row) float64 { return x.AddP99 }),
			withRatio(fmt.Sprintf("%.0f µs", r.Add999), r.Add999, h, func(x *row) float64 { return x.Add999 }),
			withRatio(fmt.Sprintf("%.4f (%.1f µs/req)", r.CPUPer1k, r.CPUPer1k*1000), r.CPUPer1k, h, func(x *row) float64 { return x.CPUPer1k }),
			r.Busy*100,
			withRatio(fmt.Sprintf("%.1f MiB", r.IdleMiB), r.IdleMiB, h, func(x *row) float64 { return x.IdleMiB }),
			withRatio(fmt.Sprintf("%.1f MiB", r.PeakMiB), r.PeakMiB, h, func(x *row) float64 { return x.PeakMiB }))
	}
	p("\nAbsolute latency at %d req/s (medians over rounds):\n\n", o.Rate)
	p("| target | p50 | p99 | p99.9 | errors (all runs) |\n|---|--:|--:|--:|--:|\n")
	for _, r := range s.Rows {
		if r.Group != s.Main {
			continue
		}
		label := r.T.Label
		if rt := r.T.rate(o); rt != o.Rate {
			label += fmt.Sprintf(" (at %d req/s)", rt)
		}
		p("| %s | %.0f µs | %.0f µs | %.0f µs | %d |\n", label, r.P50, r.P99, r.P999, r.Errors)
	}

	if c, ok := compareRouting(s); ok {
		p("\n## Routing listener against the upstream's own listener\n\n")
		p("The same Outrigger binary and defaults, the same upstream and backend; the client calls the upstream's own `listen` (%s) or a routing listener whose last of %d routes takes the request (%s). Ratios are routing / plain, of the medians above; in brackets the lowest and highest ratio of a single round (both measured in the same round).\n\n",
			c.Plain.T.ID, routingRoutes, c.Routing.T.ID)
		p("| | %s | %s | routing / plain |\n|---|--:|--:|--:|\n", c.Plain.T.Label, c.Routing.T.Label)
		p("| throughput req/s | %s | %s | **%.3f×** [%.3f–%.3f] |\n", thousands(c.Plain.RPS), thousands(c.Routing.RPS), c.RPS, c.RPSLo, c.RPSHi)
		p("| CPU µs per request | %.1f | %.1f | **%.3f×** [%.3f–%.3f] |\n", c.Plain.CPUPer1k*1000, c.Routing.CPUPer1k*1000, c.CPU, c.CPULo, c.CPUHi)
		p("| p50 at %d req/s | %.0f µs | %.0f µs | %.2f× |\n", o.Rate, c.Plain.P50, c.Routing.P50, c.P50)
		p("| p99 at %d req/s | %.0f µs | %.0f µs | %.2f× |\n", o.Rate, c.Plain.P99, c.Routing.P99, c.P99)
		p("| RSS peak | %.1f MiB | %.1f MiB | %.2f× |\n", c.Plain.PeakMiB, c.Routing.PeakMiB, c.Peak)
		p("\nThe routing listener delivered %.1f%% %s throughput and used %.1f%% %s CPU per request (%+.1f µs).",
			100*abs(c.RPS-1), moreLess(c.RPS), 100*abs(c.CPU-1), moreLess(c.CPU), (c.Routing.CPUPer1k-c.Plain.CPUPer1k)*1000)
		if in.Routes != nil {
			p(" Routing check: %s.", in.Routes.note())
		}
		p("\n")
	}
	p("%s", groupReports(s, o))
	p("%s", doneWhenReport(s, o))
	p("%s", flameReport(in.Flame))
	p("%s", trafficReport(s, o, in))
	p("%s", meshReport(s, o))
	p("%s", mtlsPeerReport(s, o))

	p("\n## Targets (issue 7)\n\n")
	p("Throughput ≥ 0.8 × HAProxy's; added p50 and p99 at 2,000 req/s ≤ 1.5 × HAProxy's; CPU per 1,000 requests ≤ 1.5 × HAProxy's; RSS idle ≤ 20 MB and peak under load ≤ 40 MB (MB read as MiB).\n\n")
	for _, id := range []string{tOutrigger, tOutriggerRoute, tOutriggerTrce} {
		cs := checks(s, id)
		if cs == nil {
			continue
		}
		p("%s:\n\n| target | limit | measured | result |\n|---|---|---|---|\n", s.row(id).T.Label)
		for _, c := range cs {
			p("| %s | %s | %s | %s |\n", c.Name, c.Limit, c.Value, verdict(c))
		}
		p("\n")
	}

	p("## How to read it\n\n")
	p("- The backend and the load generators share CPU %s, so they cap every target's throughput, direct included: a proxy whose *proxy core busy* is well under 100%% was not the bottleneck, and its throughput says more about CPU %s than about the proxy. CPU per request is the figure that does not depend on that.\n", o.LoadCPU, o.LoadCPU)
	p("- All proxies run for the whole bench; the ones not under load sit idle on CPU %s.\n", o.ProxyCPU)
	p("- Added p99.9 rests on about %d samples per run at most (%d req/s for %s): its last digits are noise.\n\n", int(float64(o.Rate)*o.LatDur.Seconds()/1000), o.Rate, o.LatDur)

	p("## Commands\n\n```sh\n")
	for _, c := range in.Commands {
		p("%s\n", c)
	}
	p("```\n\n")
	for _, t := range in.Configs {
		lang := "yaml"
		if t.Base == tHAProxy || t.Base == tNginx || t.Base == tHAProxyMTLS {
			lang = ""
		}
		conf := strings.ReplaceAll(t.Config, workDirOf(t), "WORKDIR")
		p("<details><summary>%s: %s</summary>\n\n```%s\n%s```\n\n</details>\n\n", t.Label, t.ConfigRel, lang, conf)
	}

	p("## Every run\n\n")
	p("*Other load* is the CPU that processes not started by the bench used during the run, in cores; a run where it passed %.2f is marked ⚠.\n\n", disturbed)
	p("| round | target | wrk req/s | CPU s/1k req | wrk errors | other load | p50 | p99 | p99.9 | achieved req/s | vegeta errors | other load |\n")
	p("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for r := 0; r < o.Rounds; r++ {
		for _, x := range s.Rows {
			t := x.T
			if r >= len(t.Tput) || r >= len(t.Lat) {
				continue
			}
			w, l := t.Tput[r], t.Lat[r]
			cpu := "—"
			if t.isProxy() {
				cpu = fmt.Sprintf("%.4f", w.CPUPer1k)
			}
			p("| %d | %s | %.0f | %s | %d | %s | %.0f µs | %.0f µs | %.0f µs | %.0f | %d | %s |\n",
				r+1, t.ID, w.RPS, cpu, w.Errors+w.Non2xx, otherCell(w.Other), micros(l.P50), micros(l.P99), micros(l.P999), l.Rate, l.Errors, otherCell(l.Other))
		}
	}
	return b.String()
}

func workDirOf(t *target) string {
	if t.LogPath == "" {
		return "\x00"
	}
	i := strings.LastIndex(t.LogPath, "/")
	if i <= 0 {
		return "\x00"
	}
	return t.LogPath[:i]
}

// renderStdout is the table printed at the end of a run.
func renderStdout(s summary, o options, in runInfo) string {
	var b strings.Builder
	w := 28
	for _, r := range s.Rows {
		w = max(w, utf8.RuneCountInString(r.T.Label))
	}
	fmt.Fprintf(&b, "%-*s %10s %8s %9s %9s %9s %10s %6s %9s %9s\n", w, "target", "req/s", "×HAProxy", "+p50 µs", "+p99 µs", "+p99.9 µs", "CPU s/1k", "busy", "RSS idle", "RSS peak")
	for _, r := range s.Rows {
		hr := ""
		if h := s.ref(tHAProxy, r.Group); h != nil {
			hr = ratio(r.RPS, h.RPS)
		}
		if !r.T.isProxy() {
			fmt.Fprintf(&b, "%-*s %10.0f %8s %9s %9s %9s %10s %6s %9s %9s\n", w, r.T.Label, r.RPS, hr, "—", "—", "—", "—", "—", "—", "—")
			continue
		}
		fmt.Fprintf(&b, "%-*s %10.0f %8s %9s %9s %9s %10.4f %5.0f%% %7.1fMi %7.1fMi\n", w, r.T.Label, r.RPS, hr,
			usCell(r.AddP50), usCell(r.AddP99), usCell(r.Add999), r.CPUPer1k, r.Busy*100, r.IdleMiB, r.PeakMiB)
	}
	xs := otherLoads(s)
	n := 0
	for _, x := range xs {
		if x > disturbed {
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(&b, "\nWARNING: %d of %d runs had more than %.2f cores of other load on the machine: figures disturbed\n", n, len(xs), disturbed)
	}
	if c, ok := compareRouting(s); ok {
		fmt.Fprintf(&b, "\nrouting listener (%d routes, the last taken) / upstream listener: throughput %.3f× [rounds %.3f–%.3f], CPU per request %.3f× [rounds %.3f–%.3f] (%.1f vs %.1f µs)\n",
			routingRoutes, c.RPS, c.RPSLo, c.RPSHi, c.CPU, c.CPULo, c.CPUHi, c.Routing.CPUPer1k*1000, c.Plain.CPUPer1k*1000)
		if in.Routes != nil {
			fmt.Fprintf(&b, "routing check: %s\n", in.Routes.note())
		}
	}
	b.WriteString(trafficStdout(s, in))
	b.WriteString(meshStdout(s))
	b.WriteString(mtlsPeerStdout(s))
	b.WriteString(doneWhenStdout(s))
	if in.Flame != nil {
		fmt.Fprintf(&b, "\nflame graph: %s (%d samples in %d s)\n", in.Flame.File, in.Flame.Samples, in.Flame.Seconds)
	}
	for _, id := range []string{tOutrigger, tOutriggerRoute, tOutriggerTrce} {
		cs := checks(s, id)
		if cs == nil {
			continue
		}
		fmt.Fprintf(&b, "\nissue 7 targets, %s:\n", s.row(id).T.Label)
		for _, c := range cs {
			fmt.Fprintf(&b, "  %-26s %-44s %-26s %s\n", c.Name, c.Limit, c.Value, strings.Trim(verdict(c), "*"))
		}
	}
	return b.String()
}

// usCell is a latency for the stdout table, "—" when there is none.
func usCell(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

func vegetaVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/tsenart/vegeta/v12" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// disturbed is the other load, in cores, above which a run is marked.
const disturbed = 0.10

func otherCell(v float64) string {
	if v > disturbed {
		return fmt.Sprintf("⚠ %.2f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// otherLoads is the other load of every run.
func otherLoads(s summary) []float64 {
	var xs []float64
	for _, r := range s.Rows {
		for _, w := range r.T.Tput {
			xs = append(xs, w.Other)
		}
		for _, l := range r.T.Lat {
			xs = append(xs, l.Other)
		}
	}
	return xs
}

func otherLoadNote(s summary, in runInfo) string {
	xs := otherLoads(s)
	n, worst := 0, 0.0
	for _, x := range xs {
		worst = max(worst, x)
		if x > disturbed {
			n++
		}
	}
	note := fmt.Sprintf("the bench waited %s for the machine to be quiet, which was %.0f%% busy in the second before the load, with every proxy idle. During the kept runs, processes not started by the bench used %.2f cores in the median run and %.2f at most; %d runs were repeated because they had more than %.2f cores of other load (at most %d repeats per bench).",
		in.QuietWaited.Round(time.Second), in.IdleBusy*100, median(xs), worst, in.Repeated, disturbed, in.Retries)
	if n > 0 {
		note += fmt.Sprintf(" ⚠ %d of %d runs had more than %.2f cores of other load (marked in *Every run*): their figures are disturbed, and the medians only limit the damage; run it again on a quiet machine.", n, len(xs), disturbed)
	} else {
		note += " No run was disturbed."
	}
	return note
}

func abs(v float64) float64 { return math.Abs(v) }

func moreLess(ratio float64) string {
	if ratio >= 1 {
		return "more"
	}
	return "less"
}
