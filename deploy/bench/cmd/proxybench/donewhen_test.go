package main

import (
	"strings"
	"testing"
	"time"
)

// fakeTarget is a target with one run per round: throughput, CPU per
// 1,000 requests and p50/p99 (µs) of each round.
func fakeTarget(id string, rps, cpu []float64, p50, p99 []float64) *target {
	t := &target{ID: id}
	if err := t.applyVariant(); err != nil {
		panic(err)
	}
	t.Label = id
	for i := range rps {
		t.Tput = append(t.Tput, wrkResult{RPS: rps[i], CPUPer1k: cpu[i], Requests: int64(rps[i] * 5)})
		t.Lat = append(t.Lat, latResult{P50: time.Duration(p50[i] * 1e3), P99: time.Duration(p99[i] * 1e3)})
	}
	return t
}

func verdicts(cs []doneCheck) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		m[c.At+" "+c.Figure] = c.verdict()
	}
	return m
}

func TestDoneWhen(t *testing.T) {
	o := options{Conns: 16, Rate: 2000, Rounds: 3}
	direct := func(id string) *target {
		return fakeTarget(id, []float64{50000, 50000, 50000}, []float64{0, 0, 0}, []float64{100, 100, 100}, []float64{300, 300, 300})
	}
	haproxy := func(id string) *target {
		return fakeTarget(id, []float64{30000, 20000, 30000}, []float64{0.025, 0.030, 0.025}, []float64{200, 200, 200}, []float64{900, 900, 900})
	}
	for _, tc := range []struct {
		name string
		ts   []*target
		want map[string]string
	}{
		{
			// Outrigger's rounds track HAProxy's slow round: the same-round
			// ratios pass where the ratio of the medians (24k / 30k) would not.
			name: "pass, same-round",
			ts: []*target{
				direct(tDirect), haproxy(tHAProxy),
				fakeTarget(tOutrigger, []float64{29000, 19500, 24000}, []float64{0.026, 0.031, 0.027}, []float64{190, 210, 150}, []float64{800, 950, 700}),
				fakeTarget(tOutriggerTrce, []float64{28500, 19000, 23600}, []float64{0.0265, 0.0315, 0.0275}, []float64{200, 200, 200}, []float64{900, 900, 900}),
				direct(tDirect + "@64"), haproxy(tHAProxy + "@64"),
				fakeTarget(tOutrigger+"@64", []float64{29000, 19500, 29000}, []float64{0.026, 0.031, 0.026}, []float64{190, 190, 190}, []float64{850, 850, 850}),
			},
			want: map[string]string{
				"16 conns throughput": "PASS", "16 conns CPU per request": "PASS",
				"16 conns added p50 at 2,000 req/s": "PASS", "16 conns added p99 at 2,000 req/s": "PASS",
				"64 conns throughput": "PASS", "64 conns CPU per request": "PASS",
				"64 conns added p50 at 2,000 req/s": "PASS", "64 conns added p99 at 2,000 req/s": "PASS",
				"16 conns tracing 1 % / plain: throughput": "PASS", "16 conns tracing 1 % / plain: CPU per request": "PASS",
				"idle RSS idle": "PASS",
			},
		},
		{
			name: "misses, and 64 connections not measured",
			ts: []*target{
				direct(tDirect), haproxy(tHAProxy),
				fakeTarget(tOutrigger, []float64{27000, 18000, 27000}, []float64{0.028, 0.034, 0.028}, []float64{201, 201, 201}, []float64{901, 901, 901}),
				fakeTarget(tOutriggerTrce, []float64{26000, 17000, 26000}, []float64{0.0295, 0.035, 0.0295}, []float64{200, 200, 200}, []float64{900, 900, 900}),
			},
			want: map[string]string{
				"16 conns throughput": "MISS", "16 conns CPU per request": "MISS",
				"16 conns added p50 at 2,000 req/s": "MISS", "16 conns added p99 at 2,000 req/s": "MISS",
				"64 conns throughput": "n/a", "64 conns CPU per request": "n/a",
				"64 conns added p50 at 2,000 req/s": "n/a", "64 conns added p99 at 2,000 req/s": "n/a",
				"16 conns tracing 1 % / plain: throughput": "MISS", "16 conns tracing 1 % / plain: CPU per request": "MISS",
				"idle RSS idle": "PASS",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, x := range tc.ts {
				if x.isProxy() {
					x.IdleKB = 14 * 1024
				}
			}
			s := summarize(tc.ts, o)
			got := verdicts(doneWhen(s))
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s: %s, want %s", k, got[k], want)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d checks, want %d: %v", len(got), len(tc.want), got)
			}
			md := doneWhenReport(s, o)
			if !strings.Contains(md, "at 16 and 64 connections") || !strings.Contains(md, "not settled") || strings.Contains(md, "⚠") {
				t.Errorf("report:\n%s", md)
			}
			// A disturbed run says its verdicts say little.
			tc.ts[0].Tput[0].Other = 0.5
			if md := doneWhenReport(s, o); !strings.Contains(md, "⚠ 1 of") {
				t.Errorf("a disturbed run is not flagged:\n%s", md)
			}
			tc.ts[0].Tput[0].Other = 0
		})
	}
}

func TestDoneWhenRSS(t *testing.T) {
	o := options{Conns: 16, Rate: 2000, Rounds: 7}
	for _, tc := range []struct {
		kb   int64
		want string
	}{{15 * 1024, "PASS"}, {15*1024 + 1, "MISS"}} {
		x := fakeTarget(tOutrigger, []float64{1}, []float64{1}, []float64{1}, []float64{1})
		x.IdleKB = tc.kb
		got := verdicts(doneWhen(summarize([]*target{x}, o)))["idle RSS idle"]
		if got != tc.want {
			t.Errorf("idle RSS %d KiB: %s, want %s", tc.kb, got, tc.want)
		}
	}
}

func TestSummarizeGroups(t *testing.T) {
	o := options{Conns: 16, Rate: 2000, Rounds: 1}
	one := func(id string, rps, p50 float64) *target {
		return fakeTarget(id, []float64{rps}, []float64{0.02}, []float64{p50}, []float64{p50 * 3})
	}
	s := summarize([]*target{
		one(tDirect, 50000, 100), one(tOutrigger, 25000, 200),
		one(tDirect+"-64k", 10000, 300), one(tOutrigger+"-64k", 5000, 700),
	}, o)
	o64 := s.row(tOutrigger + "-64k")
	if o64.Group != (loadGroup{Conns: 16, Big: true}) || o64.VsDirect != 0.5 || o64.AddP50 != 400 {
		t.Errorf("outrigger-64k: group %v, × direct %.2f, added p50 %.0f; want its own group, 0.50, 400 (against direct-64k)", o64.Group, o64.VsDirect, o64.AddP50)
	}
	if r := s.row(tOutrigger); r.AddP50 != 100 || r.VsDirect != 0.5 {
		t.Errorf("outrigger: added p50 %.0f, × direct %.2f; want 100, 0.50", r.AddP50, r.VsDirect)
	}
	if gs := s.groups(); len(gs) != 1 || gs[0] != (loadGroup{Conns: 16, Big: true}) {
		t.Errorf("groups: %v", gs)
	}
	md := groupReports(s, o)
	if !strings.Contains(md, "## 16 connections, 64 KiB responses") || !strings.Contains(md, "| outrigger-64k | 5,000 | 0.50× |") {
		t.Errorf("group report:\n%s", md)
	}
}

// Without direct at 64 connections there is no added latency there: the
// latency checks say so rather than compare zeros.
func TestDoneWhenWithoutDirect(t *testing.T) {
	o := options{Conns: 16, Rate: 2000, Rounds: 1}
	one := func(id string, rps, cpu float64) *target {
		return fakeTarget(id, []float64{rps}, []float64{cpu}, []float64{200}, []float64{900})
	}
	s := summarize([]*target{one(tOutrigger+"@64", 30000, 0.025), one(tHAProxy+"@64", 30000, 0.025)}, o)
	got := verdicts(doneWhen(s))
	for k, want := range map[string]string{
		"64 conns throughput": "PASS", "64 conns CPU per request": "PASS",
		"64 conns added p50 at 2,000 req/s": "n/a", "64 conns added p99 at 2,000 req/s": "n/a",
	} {
		if got[k] != want {
			t.Errorf("%s: %s, want %s", k, got[k], want)
		}
	}
}
