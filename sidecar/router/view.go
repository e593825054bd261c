package router

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// View is a listener as GET /upstreams shows it under "listeners"; the
// JSON names are part of the contract (docs/contract.md).
type View struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Protocol string      `json:"protocol"`
	NoRoute  uint64      `json:"no_route"` // requests no route matched
	Routes   []RouteView `json:"routes"`
}

// RouteView is one route of a View.
type RouteView struct {
	Name        string       `json:"name"`
	Match       config.Match `json:"match"`
	Targets     []TargetView `json:"targets"`
	StripPrefix bool         `json:"strip_prefix"`
	Requests    uint64       `json:"requests"` // sent to its targets, all codes
}

// TargetView is one upstream of a route.
type TargetView struct {
	Upstream string `json:"upstream"`
	Weight   int    `json:"weight"`
	Requests uint64 `json:"requests"`
}

// View describes the handler's listener and its current table.
func (h *Handler) View() View {
	v := h.table.Load().View()
	v.Name, v.Protocol, v.Listen = h.name, h.protocol, *h.addr.Load()
	v.NoRoute = h.unrouted.Count(404)
	return v
}

// View describes the table's routes (no listener fields).
func (t *Table) View() View {
	v := View{Name: t.listener, Routes: make([]RouteView, 0, len(t.routes))}
	for _, rt := range t.routes {
		rv := RouteView{Name: rt.cfg.Name, Match: rt.cfg.Match, StripPrefix: rt.cfg.StripPrefix, Targets: make([]TargetView, 0, len(rt.targets))}
		for _, tg := range rt.targets {
			n := tg.requests.Load()
			rv.Requests += n
			rv.Targets = append(rv.Targets, TargetView{Upstream: tg.Upstream, Weight: tg.Weight, Requests: n})
		}
		v.Routes = append(v.Routes, rv)
	}
	return v
}

// WriteTable prints listeners as a table, one row per route, in the
// order a request tries them: what `outrigger validate` compiled and
// `outrigger status` reads back. With counts, a REQUESTS column too.
func WriteTable(w io.Writer, views []View, counts bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "LISTENER\tADDRESS\tROUTE\tMATCH\tTARGETS"
	if counts {
		head += "\tREQUESTS"
	}
	fmt.Fprintln(tw, head)
	for _, v := range views {
		addr := v.Listen
		if v.Protocol != "" && v.Protocol != config.ProtocolHTTP {
			addr += " (" + v.Protocol + ")"
		}
		for _, rv := range v.Routes {
			row := v.Name + "\t" + addr + "\t" + rv.Name + "\t" + DescribeMatch(rv.Match, rv.StripPrefix) + "\t" + describeTargets(rv.Targets)
			if counts {
				row += fmt.Sprintf("\t%d", rv.Requests)
			}
			fmt.Fprintln(tw, row)
		}
		if counts {
			fmt.Fprintf(tw, "%s\t%s\t-\t(no route matched)\t404 no_route\t%d\n", v.Name, addr, v.NoRoute)
		}
	}
	return tw.Flush()
}

// DescribeMatch is a match in one line: "host=api.example.com
// prefix=/api/ (stripped) header[x-canary]=1 methods=GET,HEAD", or "any"
// for a route that takes every request.
func DescribeMatch(m config.Match, strip bool) string {
	var parts []string
	if m.Host != "" {
		parts = append(parts, "host="+m.Host)
	}
	switch {
	case m.PathPrefix != "":
		p := "prefix=" + m.PathPrefix
		if strip {
			p += " (stripped)"
		}
		parts = append(parts, p)
	case m.Path != "":
		parts = append(parts, "path="+m.Path)
	case m.PathRegex != "":
		parts = append(parts, "regex="+m.PathRegex)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		parts = append(parts, "header["+strings.ToLower(k)+"]="+m.Headers[k])
	}
	if len(m.Methods) > 0 {
		parts = append(parts, "methods="+strings.Join(m.Methods, ","))
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}

// describeTargets is "web-v1" or "web-v1 90%, web-v2 10%".
func describeTargets(ts []TargetView) string {
	if len(ts) == 1 {
		return ts[0].Upstream
	}
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s %s%%", t.Upstream, percent(t.Weight, total))
	}
	return strings.Join(parts, ", ")
}

func percent(w, total int) string {
	if total == 0 {
		return "0"
	}
	s := fmt.Sprintf("%.1f", 100*float64(w)/float64(total))
	return strings.TrimSuffix(s, ".0")
}
