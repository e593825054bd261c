package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// sample is what one request saw: an HTTP response (status > 0) or a
// transport error (status 0, err set).
type sample struct {
	status   int
	instance string
	latency  time.Duration
	err      string
	sent     time.Duration // when it was sent, from the start of the run
}

// instanceOf names who answered: the "instance" of a demo-service echo, or
// the sidecar itself when it sent a local reply.
func instanceOf(resp *http.Response, body []byte) string {
	if code := resp.Header.Get("X-Outrigger-Error"); code != "" {
		return "local reply: " + code
	}
	var e struct {
		Instance string `json:"instance"`
	}
	if json.Unmarshal(body, &e) != nil || e.Instance == "" {
		return "(unknown)"
	}
	return e.Instance
}

// report summarises a load run; its JSON form is for scripts.
type report struct {
	URL              string          `json:"url"`
	Requested        int             `json:"requested"`
	Concurrency      int             `json:"concurrency"`
	Answered         int             `json:"answered"`          // got an HTTP response
	TransportErrors  int             `json:"transport_errors"`  // no response at all
	DeadlineExceeded bool            `json:"deadline_exceeded"` // stopped early by -deadline or a signal
	ElapsedSeconds   float64         `json:"elapsed_seconds"`
	Instances        []instanceShare `json:"instances"` // by name
	Status           map[string]int  `json:"status"`    // "200": n, ..., "error": n
	LatencyMS        latencies       `json:"latency_ms"`
	FirstError       string          `json:"first_error,omitempty"`
	Rate             float64         `json:"rate,omitempty"`             // -rate, requests a second
	DurationSeconds  float64         `json:"duration_seconds,omitempty"` // -duration
	// With -every: the shares of the requests sent in each interval, and
	// with -ramp the verdict on one instance's (intervals.go).
	EverySeconds float64    `json:"every_seconds,omitempty"`
	Intervals    []interval `json:"intervals,omitempty"`
	Ramp         *ramp      `json:"ramp,omitempty"`
}

type instanceShare struct {
	Instance string  `json:"instance"`
	Count    int     `json:"count"`
	Share    float64 `json:"share"` // of answered requests, 0..1
}

type latencies struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

func newReport(c loadConfig, perWorker [][]sample, elapsed time.Duration, deadline bool) *report {
	r := &report{
		URL:            c.url,
		Requested:      c.requests,
		Concurrency:    c.concurrency,
		ElapsedSeconds: elapsed.Seconds(),
		Status:         map[string]int{},
		Instances:      []instanceShare{},
		Rate:           c.rate,
	}
	if c.duration > 0 {
		r.DurationSeconds = c.duration.Seconds()
	}
	counts := map[string]int{}
	var lat []time.Duration
	for _, samples := range perWorker {
		for _, s := range samples {
			if s.status == 0 {
				r.TransportErrors++
				r.Status["error"]++
				if r.FirstError == "" {
					r.FirstError = s.err
				}
				continue
			}
			r.Answered++
			r.Status[strconv.Itoa(s.status)]++
			counts[s.instance]++
			lat = append(lat, s.latency)
		}
	}
	for name, n := range counts {
		r.Instances = append(r.Instances, instanceShare{name, n, float64(n) / float64(r.Answered)})
	}
	slices.SortFunc(r.Instances, func(a, b instanceShare) int { return strings.Compare(a.Instance, b.Instance) })
	slices.Sort(lat)
	r.LatencyMS = latencies{P50: ms(percentile(lat, 0.50)), P99: ms(percentile(lat, 0.99))}
	// Requests still in flight when the run was cut short were dropped, so
	// a short count also means the deadline hit.
	r.DeadlineExceeded = deadline && r.Answered+r.TransportErrors < r.Requested
	if c.every > 0 {
		r.EverySeconds = c.every.Seconds()
		r.Intervals = intervalsOf(perWorker, c.every)
		if c.ramp != "" {
			r.Ramp = judgeRamp(r.Intervals, c.ramp, r.Instances)
		}
	}
	return r
}

// percentile is the nearest-rank percentile of sorted durations (0 if none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// problem says why the run counts as failed, or "" when it does not.
func (r *report) problem(expectStatus int) string {
	switch {
	case r.DeadlineExceeded && r.DurationSeconds > 0:
		return fmt.Sprintf("deadline exceeded: %d requests done", r.Answered+r.TransportErrors)
	case r.DeadlineExceeded:
		return fmt.Sprintf("deadline exceeded: %d of %d requests done", r.Answered+r.TransportErrors, r.Requested)
	case r.TransportErrors > 0:
		return fmt.Sprintf("%d requests got no response (first: %s)", r.TransportErrors, r.FirstError)
	case expectStatus != 0 && r.Status[strconv.Itoa(expectStatus)] != r.Answered:
		return fmt.Sprintf("expected every response to be %d, got %v", expectStatus, r.Status)
	case r.Ramp != nil && r.Ramp.Problem != "":
		return r.Ramp.Problem
	}
	return ""
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the report for people: the share per instance with a
// bar, the status counts, and the latency percentiles.
func (r *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "%s: %d answered, %d transport errors, in %.2fs\n",
		r.describe(), r.Answered, r.TransportErrors, r.ElapsedSeconds)
	if r.DeadlineExceeded {
		fmt.Fprintln(w, "stopped early: deadline exceeded")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\n  INSTANCE\tREQUESTS\tSHARE")
	for _, in := range r.Instances {
		bar := strings.Repeat("#", int(math.Round(40*in.Share)))
		fmt.Fprintf(tw, "  %s\t%d\t%5.1f%%  %s\n", in.Instance, in.Count, 100*in.Share, bar)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.writeIntervals(w); err != nil {
		return err
	}
	fmt.Fprintln(tw, "\n  STATUS\tREQUESTS")
	statuses := make([]string, 0, len(r.Status))
	for s := range r.Status {
		statuses = append(statuses, s)
	}
	slices.Sort(statuses)
	for _, s := range statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", s, r.Status[s])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  latency: p50 %.1fms, p99 %.1fms\n", r.LatencyMS.P50, r.LatencyMS.P99)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first transport error: %s\n", r.FirstError)
	}
	return nil
}
