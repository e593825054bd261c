package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A run with -every also reports the shares of each interval, by when the
// requests were sent: a balancer's shares over time, e.g. an endpoint's
// slow-start ramp (docs/balancing.md) or its ejection.
const (
	maxIntervals = 10_000 // -deadline / -every, so a tiny -every cannot eat the memory
	// -ramp compares the first rampSpan intervals with the last rampSpan.
	// An endpoint ramping from 10% of its weight is well under half a fair
	// share at first and near a fair share at the end of its window.
	rampSpan     = 2
	rampStartMax = 0.5  // at most this fraction of a fair share at first
	rampEndMin   = 0.75 // at least this at the end
)

// interval is what the requests sent in one -every interval got.
type interval struct {
	StartSeconds float64         `json:"start_seconds"`
	Answered     int             `json:"answered"`
	Instances    []instanceShare `json:"instances"` // by name; those that answered in it
}

// intervalsOf buckets the answered samples by when they were sent, every
// long each; an interval in which nothing was answered is there, empty.
func intervalsOf(perWorker [][]sample, every time.Duration) []interval {
	var counts []map[string]int
	for _, samples := range perWorker {
		for _, s := range samples {
			if s.status == 0 {
				continue // no answer: counted in the run's status "error"
			}
			i := int(s.sent / every)
			for len(counts) <= i {
				counts = append(counts, map[string]int{})
			}
			counts[i][s.instance]++
		}
	}
	out := make([]interval, len(counts))
	for i, m := range counts {
		iv := interval{StartSeconds: (time.Duration(i) * every).Seconds(), Instances: []instanceShare{}}
		for _, n := range m {
			iv.Answered += n
		}
		for name, n := range m {
			iv.Instances = append(iv.Instances, instanceShare{name, n, float64(n) / float64(iv.Answered)})
		}
		slices.SortFunc(iv.Instances, func(a, b instanceShare) int { return strings.Compare(a.Instance, b.Instance) })
		out[i] = iv
	}
	return out
}

// ramp is the verdict of -ramp on one instance: its share of the first and
// the last rampSpan intervals, as fractions of a fair share.
type ramp struct {
	Instance  string  `json:"instance"`
	FairShare float64 `json:"fair_share"` // 1 / the instances that answered in the run
	First     float64 `json:"first"`      // its share of the first intervals / FairShare
	Last      float64 `json:"last"`       // its share of the last intervals / FairShare
	Problem   string  `json:"problem,omitempty"`
}

// judgeRamp checks that name's share rose from well under a fair share to
// near one over the run. instances are the run's shares; a local reply is
// not an instance.
func judgeRamp(ivs []interval, name string, instances []instanceShare) *ramp {
	r := &ramp{Instance: name}
	k := 0
	for _, in := range instances {
		if !strings.HasPrefix(in.Instance, "local reply: ") {
			k++
		}
	}
	if k == 0 || len(ivs) < 2*rampSpan {
		r.Problem = fmt.Sprintf("-ramp %s: the run had %d intervals with answers from %d instances, want at least %d intervals", name, len(ivs), k, 2*rampSpan)
		return r
	}
	r.FairShare = 1 / float64(k)
	share := func(ivs []interval) float64 {
		n, total := 0, 0
		for _, iv := range ivs {
			total += iv.Answered
			for _, in := range iv.Instances {
				if in.Instance == name {
					n += in.Count
				}
			}
		}
		if total == 0 {
			return 0
		}
		return float64(n) / float64(total) / r.FairShare
	}
	r.First, r.Last = share(ivs[:rampSpan]), share(ivs[len(ivs)-rampSpan:])
	switch {
	case r.First > rampStartMax:
		r.Problem = fmt.Sprintf("%s did not start low: it had %.2f of a fair share (%.1f%%) in the first %d intervals, want at most %.2f",
			name, r.First, 100*r.FairShare, rampSpan, rampStartMax)
	case r.Last < rampEndMin:
		r.Problem = fmt.Sprintf("%s did not ramp up: it had %.2f of a fair share (%.1f%%) in the last %d intervals, want at least %.2f",
			name, r.Last, 100*r.FairShare, rampSpan, rampEndMin)
	}
	return r
}

// writeIntervals prints the table of -every, one row per interval and one
// column per instance, with a bar for the -ramp instance, and the ramp's
// verdict.
func (r *report) writeIntervals(w io.Writer) error {
	if len(r.Intervals) == 0 {
		return nil
	}
	// Into a buffer first: tabwriter pads the last share column even when
	// no bar follows it, and the padding is trimmed below.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "\n  SENT\tANSWERED")
	for _, in := range r.Instances {
		fmt.Fprintf(tw, "\t%s", in.Instance)
	}
	fmt.Fprintln(tw, "\t")
	for _, iv := range r.Intervals {
		fmt.Fprintf(tw, "  %s\t%d", intervalLabel(iv.StartSeconds, r.EverySeconds), iv.Answered)
		bar := ""
		for _, in := range r.Instances {
			share := 0.0
			for _, x := range iv.Instances {
				if x.Instance == in.Instance {
					share = x.Share
				}
			}
			fmt.Fprintf(tw, "\t%5.1f%%", 100*share)
			if r.Ramp != nil && in.Instance == r.Ramp.Instance {
				bar = strings.Repeat("#", int(math.Round(40*share)))
			}
		}
		fmt.Fprintf(tw, "\t%s\n", bar)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	if p := r.Ramp; p != nil && p.FairShare > 0 {
		fmt.Fprintf(w, "\n  %s: %.2f of a fair share (%.1f%%) in the first %d intervals, %.2f in the last %d\n",
			p.Instance, p.First, 100*p.FairShare, rampSpan, p.Last, rampSpan)
	}
	return nil
}

// intervalLabel labels an interval: "0-1s", "1.5-2s".
func intervalLabel(start, every float64) string {
	round := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	return fmt.Sprintf("%g-%gs", round(start), round(start+every))
}
