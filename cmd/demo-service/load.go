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
	"time"
)

// Bounds on a load run, so a typo cannot start an endless or huge one.
const (
	maxRequests    = 1_000_000
	maxConcurrency = 1_000
	maxBodyRead    = 1 << 20 // bytes of each response read to find its instance
	maxRate        = 100_000 // requests a second with -rate
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
	// rate > 0 paces the run: request i is sent i/rate seconds after the
	// start, by whichever worker is free (pace.go). 0: each worker sends
	// its next request as soon as it has its answer.
	rate float64
	// duration > 0 stops sending that long after the start (the answers
	// still due are awaited); requests then is only a cap.
	duration time.Duration
	every    time.Duration // > 0: report the shares of each interval this long (intervals.go)
	ramp     string        // with every: the instance whose share must ramp up
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
	fs.Float64Var(&c.rate, "rate", 0, fmt.Sprintf("send this many requests a second, steadily, however fast the answers come (0..%d; 0: each worker sends its next request when it has an answer)", maxRate))
	fs.DurationVar(&c.duration, "duration", 0, "stop sending after this long (0: after -requests, which defaults to no cap then)")
	fs.DurationVar(&c.every, "every", 0, "also print each instance's share of the requests sent in each interval this long")
	fs.StringVar(&c.ramp, "ramp", "", fmt.Sprintf("with -every: exit 1 unless this instance's share of the first two intervals is at most %.2f of a fair share and of the last two at least %.2f", rampStartMax, rampEndMin))
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	requestsSet := false
	fs.Visit(func(f *flag.Flag) { requestsSet = requestsSet || f.Name == "requests" })
	if c.duration > 0 && !requestsSet {
		c.requests = maxRequests // the duration bounds the run
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
	if !(c.rate >= 0 && c.rate <= maxRate) { // also rejects NaN
		errs = append(errs, fmt.Errorf("-rate must be 0..%d requests a second, got %v", maxRate, c.rate))
	}
	if c.duration < 0 {
		errs = append(errs, fmt.Errorf("-duration must be >= 0, got %s", c.duration))
	} else if c.duration >= c.deadline && c.deadline > 0 {
		errs = append(errs, fmt.Errorf("-duration %s must be shorter than -deadline %s", c.duration, c.deadline))
	}
	if c.every < 0 {
		errs = append(errs, fmt.Errorf("-every must be >= 0, got %s", c.every))
	} else if c.every > 0 && c.deadline/c.every > maxIntervals {
		errs = append(errs, fmt.Errorf("-every %s is too short: -deadline %s would make more than %d intervals", c.every, c.deadline, maxIntervals))
	}
	if c.ramp != "" && c.every <= 0 {
		errs = append(errs, errors.New("-ramp needs -every: it compares the first intervals with the last"))
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

// drive sends c.requests requests with c.concurrency workers, paced by
// c.rate when it is set, and returns what they saw. It stops sending after
// c.requests requests or c.duration, and stops altogether at c.deadline or
// when ctx ends, whichever is first; requests cut off by the deadline are
// not counted.
func drive(ctx context.Context, client *http.Client, c loadConfig) *report {
	ctx, cancel := context.WithTimeout(ctx, c.deadline)
	defer cancel()
	defer client.CloseIdleConnections()

	workers := min(c.concurrency, c.requests)
	perWorker := make([][]sample, workers) // each worker appends to its own slice
	var wg sync.WaitGroup
	start := time.Now()
	next := tickets(ctx, c, start)
	for w := range workers {
		wg.Go(func() {
			for next() {
				sent := time.Since(start)
				s, ok := once(ctx, client, c)
				if !ok {
					return
				}
				s.sent = sent
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
