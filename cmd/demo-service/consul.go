package main

// Talking to a Consul agent over its HTTP API with net/http and
// encoding/json only: the instance's own registration (serve -consul) and
// the consul-wait helper for scripts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Registration settings. The check runs every second so that a demo sees an
// instance pass within about a second; an instance whose check stays
// critical for a minute (it was killed and could not deregister) is removed
// by Consul itself.
const (
	checkInterval          = "1s"
	checkTimeout           = "1s"
	deregisterCriticalTime = "1m"
	registerTimeout        = 10 * time.Second // retrying while the agent starts
	deregisterTimeout      = 5 * time.Second
	consulRequestTimeout   = 5 * time.Second
	consulPollInterval     = 100 * time.Millisecond
	maxConsulBody          = 4 << 20
)

// consulClient is a minimal client of one Consul agent's HTTP API.
type consulClient struct {
	base string // "http://127.0.0.1:8500", no trailing slash
	http *http.Client
}

// newConsulClient accepts host:port (as the sidecar's consul.address does)
// or an http:// or https:// URL.
func newConsulClient(addr string) (*consulClient, error) {
	base, err := consulBaseURL(addr)
	if err != nil {
		return nil, err
	}
	return &consulClient{
		base: base,
		// No proxy: the agent is local. Each call sets its own deadline.
		http: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}},
	}, nil
}

// requiredConsulFlag checks a subcommand's -consul flag: set, and an
// address consulBaseURL takes.
func requiredConsulFlag(addr string) error {
	if addr == "" {
		return errors.New("-consul is required")
	}
	if _, err := consulBaseURL(addr); err != nil {
		return fmt.Errorf("-consul %w", err)
	}
	return nil
}

func consulBaseURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("%q: must be host:port or an http:// URL without a path", addr)
		}
		return u.Scheme + "://" + u.Host, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("%q: must be host:port", addr)
	}
	return "http://" + addr, nil
}

// agentServiceRegistration is the body of PUT /v1/agent/service/register,
// with the field names of Consul's api.AgentServiceRegistration.
type agentServiceRegistration struct {
	ID      string                 `json:"ID"`
	Name    string                 `json:"Name"`
	Tags    []string               `json:"Tags,omitempty"`
	Address string                 `json:"Address,omitempty"` // empty: Consul uses the node's address
	Port    int                    `json:"Port"`
	Check   *agentServiceHTTPCheck `json:"Check,omitempty"`
}

type agentServiceHTTPCheck struct {
	HTTP                           string `json:"HTTP"`
	Interval                       string `json:"Interval"`
	Timeout                        string `json:"Timeout"`
	DeregisterCriticalServiceAfter string `json:"DeregisterCriticalServiceAfter"`
}

// newRegistration describes an instance serving on listenAddr (the bound
// address, so a ":0" listen has its real port). A wildcard host is
// registered without an address, and checked on 127.0.0.1.
func newRegistration(id, service string, tags []string, listenAddr string) (agentServiceRegistration, error) {
	host, portStr, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return agentServiceRegistration{}, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return agentServiceRegistration{}, fmt.Errorf("port of %q: %w", listenAddr, err)
	}
	checkHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, checkHost = "", "127.0.0.1"
	}
	return agentServiceRegistration{
		ID:      id,
		Name:    service,
		Tags:    tags,
		Address: host,
		Port:    port,
		Check: &agentServiceHTTPCheck{
			HTTP:                           "http://" + net.JoinHostPort(checkHost, portStr) + "/health",
			Interval:                       checkInterval,
			Timeout:                        checkTimeout,
			DeregisterCriticalServiceAfter: deregisterCriticalTime,
		},
	}, nil
}

// statusError is a non-2xx answer from Consul.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("consul answered %d: %s", e.status, strings.TrimSpace(e.body))
}

// do sends one request with a deadline of its own and decodes a JSON answer
// into out (if out is not nil).
func (c *consulClient) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, consulRequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxConsulBody))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{resp.StatusCode, string(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// register registers the instance, retrying transport errors and 5xx
// answers (an agent that is still starting) until registerTimeout.
func (c *consulClient) register(ctx context.Context, reg agentServiceRegistration) error {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	var err error
	if pollUntil(ctx, consulPollInterval, func(ctx context.Context) bool {
		err = c.do(ctx, http.MethodPut, "/v1/agent/service/register", reg, nil)
		var se *statusError
		// A 4xx is the agent refusing the registration itself: retrying will not help.
		return err == nil || errors.As(err, &se) && se.status < 500
	}) != nil {
		return fmt.Errorf("gave up after %s: %w", registerTimeout, err)
	}
	return err
}

// deregister removes the instance from the agent, once.
func (c *consulClient) deregister(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, deregisterTimeout)
	defer cancel()
	return c.do(ctx, http.MethodPut, "/v1/agent/service/deregister/"+url.PathEscape(id), nil, nil)
}

// healthEntry is the part of one /v1/health/service entry used here.
type healthEntry struct {
	Node struct {
		Address string `json:"Address"`
	} `json:"Node"`
	Service struct {
		ID      string   `json:"ID"`
		Service string   `json:"Service"`
		Tags    []string `json:"Tags"`
		Address string   `json:"Address"`
		Port    int      `json:"Port"`
	} `json:"Service"`
}

// address is where the instance is reached: the service address, or the
// node's when the service has none.
func (e healthEntry) address() string {
	host := e.Service.Address
	if host == "" {
		host = e.Node.Address
	}
	return net.JoinHostPort(host, strconv.Itoa(e.Service.Port))
}

// passing lists the instances of service whose checks all pass.
func (c *consulClient) passing(ctx context.Context, service string) ([]healthEntry, error) {
	var entries []healthEntry
	err := c.do(ctx, http.MethodGet, "/v1/health/service/"+url.PathEscape(service)+"?passing", nil, &entries)
	return entries, err
}

// consulWaitConfig is one consul-wait run.
type consulWaitConfig struct {
	consul  string
	service string
	passing int
	timeout time.Duration
}

func parseConsulWaitFlags(args []string, stderr io.Writer) (consulWaitConfig, error) {
	var c consulWaitConfig
	fs := flag.NewFlagSet("demo-service consul-wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.consul, "consul", "", "Consul HTTP address, host:port (required)")
	fs.StringVar(&c.service, "service", "", "Consul service name (required)")
	fs.IntVar(&c.passing, "passing", -1, "wait until exactly this many instances pass (required, >= 0)")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := requiredConsulFlag(c.consul); err != nil {
		errs = append(errs, err)
	}
	if c.service == "" {
		errs = append(errs, errors.New("-service is required"))
	}
	if c.passing < 0 {
		errs = append(errs, errors.New("-passing is required and must be >= 0"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	return c, errors.Join(errs...)
}

// runConsulWait is the "consul-wait" subcommand: it polls Consul until the
// service has exactly -passing passing instances, then prints them. It
// exits 1 at -timeout.
func runConsulWait(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseConsulWaitFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service consul-wait", err); !ok {
		return code
	}
	client, _ := newConsulClient(c.consul) // checked by the flag parser
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var entries []healthEntry
	last, have := "no answer yet", -1
	if err := pollUntil(ctx, consulPollInterval, func(ctx context.Context) bool {
		var err error
		if entries, err = client.passing(ctx, c.service); err != nil {
			last = err.Error()
			return false
		}
		have, last = len(entries), ""
		return len(entries) == c.passing
	}); err != nil {
		msg := fmt.Sprintf("%s: want %d passing instances, ", c.service, c.passing)
		if have >= 0 {
			msg += fmt.Sprintf("last saw %d", have)
		} else {
			msg += "never got an answer"
		}
		if last != "" {
			msg += " (last error: " + last + ")"
		}
		fmt.Fprintf(stderr, "demo-service consul-wait: %s after %s\n", msg, c.timeout)
		return exitFailure
	}
	fmt.Fprintf(stdout, "consul: %s has %d passing instances%s\n", c.service, len(entries), describe(entries))
	return exitOK
}

// describe lists instances as ": id (addr), ...", or "" for none.
func describe(entries []healthEntry) string {
	if len(entries) == 0 {
		return ""
	}
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.Service.ID + " (" + e.address() + ")"
	}
	slices.Sort(parts)
	return ": " + strings.Join(parts, ", ")
}
