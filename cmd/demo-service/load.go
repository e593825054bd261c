package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds on a load run, so a typo cannot start an endless or huge one.
const (
	maxRequests    = 1_000_000
	maxConcurrency = 1_000
	maxBodyRead    = 1 << 20 // bytes of each response read to find its instance
)

// loadConfig is one load run: requests GETs of url by concurrency workers,
// each request bounded by timeout and the whole run by deadline.
type loadConfig struct {
	url          string
	requests     int
	concurrency  int
	timeout      time.Duration
	deadline     time.Duration
	expectStatus int // 0: any status is fine
	json         bool
	headers      headerFlags // sent with every request; "Host: x" sets the host
}

// headerFlags is the repeatable -header "Name: value" flag.
type headerFlags []headerFlag

type headerFlag struct{ name, value string }

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("want \"Name: value\", got %q", s)
	}
	*h = append(*h, headerFlag{name, strings.TrimSpace(value)})
	return nil
}

func parseLoadFlags(args []string, stderr io.Writer) (loadConfig, error) {
	var c loadConfig
	fs := flag.NewFlagSet("demo-service load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "URL to GET (required)")
	fs.IntVar(&c.requests, "requests", 100, fmt.Sprintf("total requests (1..%d)", maxRequests))
	fs.IntVar(&c.concurrency, "concurrency", 8, fmt.Sprintf("concurrent workers (1..%d)", maxConcurrency))
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "timeout of each request")
	fs.DurationVar(&c.deadline, "deadline", 2*time.Minute, "the whole run stops after this long")
	fs.IntVar(&c.expectStatus, "expect-status", 0, "exit 1 unless every response has this status (0: don't check)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.Var(&c.headers, "header", `a header sent with every request, "Name: value" (repeatable; "Host: name" sets the host)`)
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if u, err := url.Parse(c.url); c.url == "" {
		errs = append(errs, errors.New("-url is required"))
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("-url %q: must be an absolute http:// or https:// URL", c.url))
	}
	if c.requests < 1 || c.requests > maxRequests {
		errs = append(errs, fmt.Errorf("-requests must be 1..%d, got %d", maxRequests, c.requests))
	}
	if c.concurrency < 1 || c.concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("-concurrency must be 1..%d, got %d", maxConcurrency, c.concurrency))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	if c.deadline <= 0 {
		errs = append(errs, fmt.Errorf("-deadline must be > 0, got %s", c.deadline))
	}
	if c.expectStatus != 0 && (c.expectStatus < 100 || c.expectStatus > 599) {
		errs = append(errs, fmt.Errorf("-expect-status must be 0 or an HTTP status, got %d", c.expectStatus))
	}
	return c, errors.Join(errs...)
}

// runLoad is the "load" subcommand. It exits 1 when the run was incomplete
// (deadline, transport errors) or a response missed -expect-status.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseLoadFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service load", err); !ok {
		return code
	}
	rep := drive(ctx, newLoadClient(c.concurrency), c)
	if c.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo-service load: %v\n", err)
		return exitFailure
	}
	if problem := rep.problem(c.expectStatus); problem != "" {
		fmt.Fprintf(stderr, "demo-service load: %s\n", problem)
		return exitFailure
	}
	return exitOK
}

// newLoadClient keeps up to one idle connection per worker, ignores proxy
// settings (the targets are local) and does not follow redirects.
func newLoadClient(concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// drive sends c.requests requests with c.concurrency workers and returns
// what they saw. It stops after c.requests requests, at c.deadline, or when
// ctx ends, whichever is first; requests cut off by the deadline are not
// counted.
func drive(ctx context.Context, client *http.Client, c loadConfig) *report {
	ctx, cancel := context.WithTimeout(ctx, c.deadline)
	defer cancel()
	defer client.CloseIdleConnections()

	workers := min(c.concurrency, c.requests)
	perWorker := make([][]sample, workers) // each worker appends to its own slice
	var issued atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && issued.Add(1) <= int64(c.requests) {
				s, ok := once(ctx, client, c)
				if !ok {
					return
				}
				perWorker[w] = append(perWorker[w], s)
			}
		})
	}
	wg.Wait()
	return newReport(c, perWorker, time.Since(start), ctx.Err() != nil)
}

// once sends one request. ok is false when the run's context ended first,
// in which case the sample must be dropped.
func once(ctx context.Context, client *http.Client, c loadConfig) (s sample, ok bool) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.url, nil)
	if err != nil {
		return sample{err: err.Error()}, true
	}
	req.Header.Set("User-Agent", "outrigger-demo-load")
	for _, h := range c.headers {
		if strings.EqualFold(h.name, "Host") {
			req.Host = h.value
			continue
		}
		req.Header.Add(h.name, h.value)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
		resp.Body.Close()
		if err == nil {
			return sample{status: resp.StatusCode, instance: instanceOf(resp, body), latency: time.Since(start)}, true
		}
	}
	if ctx.Err() != nil {
		return sample{}, false
	}
	return sample{err: err.Error(), latency: time.Since(start)}, true
}
