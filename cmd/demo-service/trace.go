package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

const (
	tracePollInterval = 200 * time.Millisecond
	maxTraceBody      = 16 << 20
)

// traceIDPattern is a W3C trace id: 32 lower-case hex digits (all zeros is
// invalid and rejected separately).
var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// traceConfig is one run of the "trace" subcommand.
type traceConfig struct {
	jaeger   string   // Jaeger query base URL, http://host:port
	traceID  string   // 32 hex digits
	services []string // wait until each has at least one span; empty: any span
	timeout  time.Duration
}

func parseTraceFlags(args []string, stderr io.Writer) (traceConfig, error) {
	var c traceConfig
	var services string
	fs := flag.NewFlagSet("demo-service trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.jaeger, "jaeger", "", "Jaeger's query API, http://host:port (required)")
	fs.StringVar(&c.traceID, "trace", "", "the trace id, 32 hex digits (required)")
	fs.StringVar(&services, "services", "", "comma-separated service names: wait until each has a span in the trace (default: any span)")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if c.jaeger == "" {
		errs = append(errs, errors.New("-jaeger is required"))
	} else if u, err := url.Parse(c.jaeger); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("-jaeger %q: must be an http://host:port URL", c.jaeger))
	}
	c.jaeger = strings.TrimRight(c.jaeger, "/")
	c.traceID = strings.ToLower(c.traceID)
	switch {
	case c.traceID == "":
		errs = append(errs, errors.New("-trace is required"))
	case !traceIDPattern.MatchString(c.traceID) || strings.Trim(c.traceID, "0") == "":
		errs = append(errs, fmt.Errorf("-trace %q: must be 32 hex digits, not all zero", c.traceID))
	}
	for _, s := range strings.Split(services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.services = append(c.services, s)
		}
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	return c, errors.Join(errs...)
}

// runTrace is the "trace" subcommand: it polls Jaeger's GET
// /api/traces/<id> until the trace has a span from every -services name
// (spans arrive in batches, from each process on its own), then prints the
// span tree, one line per span: "service: operation [kind] duration",
// children indented under their parent. It exits 1 at -timeout.
func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseTraceFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service trace", err); !ok {
		return code
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	want := "any span"
	if len(c.services) > 0 {
		want = "spans from " + strings.Join(c.services, ", ")
	}
	var tr jaegerTrace
	last := "no answer yet"
	if err := pollUntil(ctx, tracePollInterval, func(ctx context.Context) bool {
		var err error
		if tr, err = fetchTrace(ctx, client, c.jaeger, c.traceID); err != nil {
			last = err.Error()
			return false
		}
		last = tr.summary()
		return tr.complete(c.services)
	}); err != nil {
		fmt.Fprintf(stderr, "demo-service trace: trace %s: want %s within %s; last saw %s\n", c.traceID, want, c.timeout, last)
		return exitFailure
	}
	fmt.Fprint(stdout, tr.tree())
	return exitOK
}

// jaegerTrace is the part of one trace of GET /api/traces/<id> used here.
type jaegerTrace struct {
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64 `json:"startTime"` // µs
	Duration  int64 `json:"duration"`  // µs
	Tags      []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// errTraceNotFound is Jaeger's 404: no span of the trace has arrived yet.
var errTraceNotFound = errors.New("trace not found (yet)")

// fetchTrace asks Jaeger's query API for one trace.
func fetchTrace(ctx context.Context, client *http.Client, base, traceID string) (jaegerTrace, error) {
	var doc struct {
		Data []jaegerTrace `json:"data"`
	}
	var se *getStatusError
	if err := getJSON(ctx, client, base, "/api/traces/"+traceID, maxTraceBody, &doc); errors.As(err, &se) && se.code == http.StatusNotFound {
		return jaegerTrace{}, errTraceNotFound
	} else if err != nil {
		return jaegerTrace{}, err
	}
	if len(doc.Data) == 0 {
		return jaegerTrace{}, errTraceNotFound
	}
	return doc.Data[0], nil
}

func (tr jaegerTrace) service(s jaegerSpan) string {
	if p, ok := tr.Processes[s.ProcessID]; ok && p.ServiceName != "" {
		return p.ServiceName
	}
	return "?"
}

// complete reports whether every one of services has a span in tr (with no
// services: whether tr has any span).
func (tr jaegerTrace) complete(services []string) bool {
	if len(tr.Spans) == 0 {
		return false
	}
	for _, want := range services {
		if !slices.ContainsFunc(tr.Spans, func(s jaegerSpan) bool { return tr.service(s) == want }) {
			return false
		}
	}
	return true
}

// summary says what tr has so far, for the timeout message.
func (tr jaegerTrace) summary() string {
	count := map[string]int{}
	var names []string
	for _, s := range tr.Spans {
		n := tr.service(s)
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n]++
	}
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%d from %s", count[n], n))
	}
	return fmt.Sprintf("%d spans (%s)", len(tr.Spans), strings.Join(parts, ", "))
}

// parent is the span id of s's CHILD_OF reference, or "".
func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) kind() string {
	for _, t := range s.Tags {
		if t.Key == "span.kind" {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// tree renders the spans as a tree, each child indented under its parent
// and siblings in start order. A span whose parent is not in the trace (the
// caller's span, when the caller does not export to Jaeger) is a root.
func (tr jaegerTrace) tree() string {
	spans := slices.Clone(tr.Spans)
	slices.SortStableFunc(spans, func(a, b jaegerSpan) int { return cmp.Compare(a.StartTime, b.StartTime) })
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	children := map[string][]jaegerSpan{}
	var roots []jaegerSpan
	for _, s := range spans {
		if p := s.parent(); p != "" && p != s.SpanID && ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	seen := map[string]bool{}
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		if seen[s.SpanID] { // a reference loop: print each span once
			return
		}
		seen[s.SpanID] = true
		fmt.Fprintf(&b, "%s%s: %s", strings.Repeat("  ", depth), tr.service(s), s.OperationName)
		if k := s.kind(); k != "" {
			fmt.Fprintf(&b, " [%s]", k)
		}
		fmt.Fprintf(&b, " %s\n", time.Duration(s.Duration)*time.Microsecond)
		for _, c := range children[s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, s := range spans { // spans left out by a reference loop
		walk(s, 0)
	}
	return b.String()
}
