package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// upstreamsConfig is one run of the "upstreams" subcommand.
type upstreamsConfig struct {
	admin    string
	upstream string
	want     int // -1: print the count once
	timeout  time.Duration
}

func parseUpstreamsFlags(args []string, stderr io.Writer) (upstreamsConfig, error) {
	var c upstreamsConfig
	fs := flag.NewFlagSet("demo-service upstreams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.admin, "admin", "", "the sidecar's admin API address, host:port (required)")
	fs.StringVar(&c.upstream, "upstream", "", "upstream name (required)")
	fs.IntVar(&c.want, "want", -1, "poll until the upstream has exactly this many endpoints (-1: ask once)")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "with -want, give up after this long")
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
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	return c, errors.Join(errs...)
}

// runUpstreams is the "upstreams" subcommand: it prints how many endpoints
// the sidecar's GET /upstreams lists for one upstream. With -want N it
// polls until that number is N and exits 1 at -timeout.
func runUpstreams(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseUpstreamsFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printUsageError(stderr, "demo-service upstreams", err)
		return exitUsage
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	if c.want < 0 {
		n, err := endpointCount(ctx, client, c.admin, c.upstream)
		if err != nil {
			fmt.Fprintf(stderr, "demo-service upstreams: %v\n", err)
			return exitFailure
		}
		fmt.Fprintln(stdout, n)
		return exitOK
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	last := "no answer yet"
	for {
		n, err := endpointCount(ctx, client, c.admin, c.upstream)
		if err == nil && n == c.want {
			fmt.Fprintln(stdout, n)
			return exitOK
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d endpoints", n)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "demo-service upstreams: %s: want %d endpoints, last saw %s after %s\n", c.upstream, c.want, last, c.timeout)
			return exitFailure
		case <-time.After(consulPollInterval):
		}
	}
}

// endpointCount asks the admin API at admin for the endpoints of upstream.
func endpointCount(ctx context.Context, client *http.Client, admin, upstream string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/upstreams", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /upstreams: %s", resp.Status)
	}
	var doc struct {
		Upstreams []struct {
			Name      string            `json:"name"`
			Endpoints []json.RawMessage `json:"endpoints"`
		} `json:"upstreams"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxConsulBody)).Decode(&doc); err != nil {
		return 0, fmt.Errorf("GET /upstreams: %w", err)
	}
	for _, u := range doc.Upstreams {
		if u.Name == upstream {
			return len(u.Endpoints), nil
		}
	}
	return 0, fmt.Errorf("GET /upstreams: no upstream named %q", upstream)
}
