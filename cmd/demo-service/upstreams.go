package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// upstreamsConfig is one run of the "upstreams" subcommand.
type upstreamsConfig struct {
	admin    string
	upstream string
	want     int // -1: print the count once
	// endpoint, when set, selects one endpoint by address: its outlier
	// state is printed instead of the count.
	endpoint    string
	wantEjected optBool // with endpoint: poll until its "ejected" is this
	timeout     time.Duration
}

// optBool is a boolean flag that must be given a value (-f true, -f=false)
// and remembers whether it was given at all.
type optBool struct {
	set, value bool
}

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("must be true or false")
	}
	b.set, b.value = true, v
	return nil
}

func parseUpstreamsFlags(args []string, stderr io.Writer) (upstreamsConfig, error) {
	var c upstreamsConfig
	fs := flag.NewFlagSet("demo-service upstreams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.admin, "admin", "", "the sidecar's admin API address, host:port (required)")
	fs.StringVar(&c.upstream, "upstream", "", "upstream name (required)")
	fs.IntVar(&c.want, "want", -1, "poll until the upstream has exactly this many endpoints (-1: ask once)")
	fs.StringVar(&c.endpoint, "endpoint", "", "print the outlier state of the endpoint with this address (host:port) instead of the count")
	fs.Var(&c.wantEjected, "want-ejected", "with -endpoint: poll until its \"ejected\" is this (true or false)")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "with -want or -want-ejected, give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if c.admin == "" {
		errs = append(errs, errors.New("-admin is required"))
	} else if host, port, err := net.SplitHostPort(c.admin); err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("-admin %q: must be host:port", c.admin))
	}
	if c.upstream == "" {
		errs = append(errs, errors.New("-upstream is required"))
	}
	if c.want < -1 {
		errs = append(errs, fmt.Errorf("-want must be >= 0 (or -1), got %d", c.want))
	}
	if c.endpoint != "" {
		if host, port, err := net.SplitHostPort(c.endpoint); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("-endpoint %q: must be host:port", c.endpoint))
		}
		if c.want >= 0 {
			errs = append(errs, errors.New("-want counts endpoints and -endpoint selects one: give only one of them"))
		}
	} else if c.wantEjected.set {
		errs = append(errs, errors.New("-want-ejected needs -endpoint"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	return c, errors.Join(errs...)
}

// runUpstreams is the "upstreams" subcommand: it prints how many endpoints
// the sidecar's GET /upstreams lists for one upstream, or with -endpoint the
// outlier state of one of them. With -want N (or -want-ejected B) it polls
// until that number is N (or the endpoint's "ejected" is B) and exits 1 at
// -timeout.
func runUpstreams(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseUpstreamsFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service upstreams", err); !ok {
		return code
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()

	// check asks once: the line to print, whether the wait is over, and
	// what was seen (for the timeout message).
	var check func(context.Context) (line string, done bool, seen string)
	var want string
	switch {
	case c.endpoint != "":
		want = fmt.Sprintf("%s ejected=%t", c.endpoint, c.wantEjected.value)
		check = func(ctx context.Context) (string, bool, string) {
			ep, err := findEndpoint(ctx, client, c.admin, c.upstream, c.endpoint)
			if err != nil {
				return "", false, err.Error()
			}
			return ep.String(), !c.wantEjected.set || ep.Ejected == c.wantEjected.value, ep.String()
		}
		if !c.wantEjected.set {
			return checkOnce(ctx, check, stdout, stderr)
		}
	default:
		want = fmt.Sprintf("%d endpoints", c.want)
		check = func(ctx context.Context) (string, bool, string) {
			ups, err := fetchUpstream(ctx, client, c.admin, c.upstream)
			if err != nil {
				return "", false, err.Error()
			}
			n := len(ups.Endpoints)
			return strconv.Itoa(n), c.want < 0 || n == c.want, fmt.Sprintf("%d endpoints", n)
		}
		if c.want < 0 {
			return checkOnce(ctx, check, stdout, stderr)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	line, last := "", "no answer yet"
	if err := pollUntil(ctx, consulPollInterval, func(ctx context.Context) (done bool) {
		line, done, last = check(ctx)
		return done
	}); err != nil {
		fmt.Fprintf(stderr, "demo-service upstreams: %s: want %s, last saw %s after %s\n", c.upstream, want, last, c.timeout)
		return exitFailure
	}
	fmt.Fprintln(stdout, line)
	return exitOK
}

// checkOnce runs check a single time and prints its line, or its error.
func checkOnce(ctx context.Context, check func(context.Context) (string, bool, string), stdout, stderr io.Writer) int {
	line, done, seen := check(ctx)
	if !done {
		fmt.Fprintf(stderr, "demo-service upstreams: %s\n", seen)
		return exitFailure
	}
	fmt.Fprintln(stdout, line)
	return exitOK
}

// upstreamView is the part of one GET /upstreams entry used here.
type upstreamView struct {
	Name      string         `json:"name"`
	Endpoints []endpointView `json:"endpoints"`
}

// endpointView is the part of one endpoint of GET /upstreams used here.
type endpointView struct {
	Address        string `json:"address"`
	ID             string `json:"id"`
	Healthy        bool   `json:"healthy"`
	Ejected        bool   `json:"ejected"`
	EjectedUntil   string `json:"ejected_until"`
	EjectionReason string `json:"ejection_reason"`
	Ejections      int    `json:"ejections"`
	SlowStartUntil string `json:"slow_start_until"` // when its slow-start ramp ends; empty when not ramping
}

// String is one line for people and scripts: the address, the ID, then
// key=value pairs, an empty value shown as "".
func (e endpointView) String() string {
	q := func(s string) string {
		if s == "" || strings.ContainsAny(s, " \t\"=") {
			return strconv.Quote(s)
		}
		return s
	}
	name := e.Address
	if e.ID != "" {
		name += " (" + e.ID + ")"
	}
	return fmt.Sprintf("%s healthy=%t ejected=%t ejection_reason=%s ejections=%d ejected_until=%s slow_start_until=%s",
		name, e.Healthy, e.Ejected, q(e.EjectionReason), e.Ejections, q(e.EjectedUntil), q(e.SlowStartUntil))
}

// fetchUpstream asks the admin API at admin for upstream's entry.
func fetchUpstream(ctx context.Context, client *http.Client, admin, upstream string) (upstreamView, error) {
	var doc struct {
		Upstreams []upstreamView `json:"upstreams"`
	}
	if err := getJSON(ctx, client, "http://"+admin, "/upstreams", maxConsulBody, &doc); err != nil {
		return upstreamView{}, err
	}
	for _, u := range doc.Upstreams {
		if u.Name == upstream {
			return u, nil
		}
	}
	return upstreamView{}, fmt.Errorf("GET /upstreams: no upstream named %q", upstream)
}

// findEndpoint asks the admin API for the endpoint of upstream at address.
func findEndpoint(ctx context.Context, client *http.Client, admin, upstream, address string) (endpointView, error) {
	u, err := fetchUpstream(ctx, client, admin, upstream)
	if err != nil {
		return endpointView{}, err
	}
	for _, e := range u.Endpoints {
		if e.Address == address {
			return e, nil
		}
	}
	return endpointView{}, fmt.Errorf("upstream %q has no endpoint %s (it has %d)", upstream, address, len(u.Endpoints))
}
