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
	"strconv"
	"strings"
	"time"
)

// controlConfig is one run of the "control" subcommand: flip the failure
// or slow switch of the demo-service instance at addr.
type controlConfig struct {
	addr    string
	action  string        // "fail", "slow" or "heal"
	status  int           // with fail
	delay   time.Duration // with slow
	timeout time.Duration
}

// controlFlags registers the flags every action takes, so that they may
// come before or after the action ("control -addr X fail" and "control
// fail -addr X" both work). Their defaults are c's current values, so
// registering them again for the action keeps what was parsed before it.
func controlFlags(fs *flag.FlagSet, c *controlConfig) {
	fs.StringVar(&c.addr, "addr", c.addr, "the instance's listen address, host:port (required)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "give up on the request after this long")
}

func parseControlFlags(args []string, stderr io.Writer) (controlConfig, error) {
	c := controlConfig{status: defaultFailStatus, timeout: 5 * time.Second}
	fs := flag.NewFlagSet("demo-service control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: demo-service control -addr HOST:PORT fail [-status %d] | slow -delay D | heal\n", defaultFailStatus)
		fs.PrintDefaults()
	}
	controlFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, errReported{err}
	}
	var errs []error
	rest := fs.Args()
	if len(rest) == 0 {
		errs = append(errs, errors.New("an action is required: fail, slow or heal"))
	} else {
		c.action = rest[0]
		afs := flag.NewFlagSet("demo-service control "+c.action, flag.ContinueOnError)
		afs.SetOutput(stderr)
		controlFlags(afs, &c)
		switch c.action {
		case "fail":
			afs.IntVar(&c.status, "status", defaultFailStatus,
				fmt.Sprintf("the status every request but /health and /control/* gets (%d..%d)", minFailStatus, maxFailStatus))
		case "slow":
			afs.DurationVar(&c.delay, "delay", 0,
				fmt.Sprintf("what every request but /health and /control/* waits on top of -latency (above 0, at most %s; required)", maxSlowDelay))
		case "heal":
		default:
			return c, fmt.Errorf("unknown action %q: want fail, slow or heal", c.action)
		}
		if err := afs.Parse(rest[1:]); err != nil {
			return c, errReported{err}
		}
		if afs.NArg() > 0 {
			errs = append(errs, fmt.Errorf("unexpected arguments: %q", afs.Args()))
		}
	}
	if c.addr == "" {
		errs = append(errs, errors.New("-addr is required"))
	} else if host, port, err := net.SplitHostPort(c.addr); err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("-addr %q: must be host:port", c.addr))
	}
	if c.action == "slow" && c.delay == 0 {
		errs = append(errs, errors.New("slow: -delay is required, e.g. -delay 200ms"))
	} else if c.delay < 0 || c.delay > maxSlowDelay {
		errs = append(errs, fmt.Errorf("-delay must be above 0 and at most %s, got %s", maxSlowDelay, c.delay))
	}
	if c.status < minFailStatus || c.status > maxFailStatus {
		errs = append(errs, fmt.Errorf("-status must be an HTTP error status (%d..%d), got %d", minFailStatus, maxFailStatus, c.status))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be > 0, got %s", c.timeout))
	}
	return c, errors.Join(errs...)
}

// runControl is the "control" subcommand: POST /control/fail?status=N or
// POST /control/heal to one instance, then print what it now does. It
// exits 1 when the instance cannot be reached or does not answer 200.
func runControl(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseControlFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service control", err); !ok {
		return code
	}
	st, err := sendControl(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "demo-service control: %v\n", err)
		return exitFailure
	}
	switch c.action {
	case "fail":
		fmt.Fprintf(stdout, "%s (%s): failing on purpose: every request but /health and /control/* answers %d\n", st.Instance, st.Listen, st.Status)
	case "slow":
		fmt.Fprintf(stdout, "%s (%s): slow on purpose: every request but /health and /control/* waits %s more\n", st.Instance, st.Listen, st.Delay)
	default:
		fmt.Fprintf(stdout, "%s (%s): healed: answering normally\n", st.Instance, st.Listen)
	}
	return exitOK
}

// sendControl sends the action to the instance and decodes its answer.
func sendControl(ctx context.Context, c controlConfig) (controlState, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	url := "http://" + c.addr + "/control/heal"
	switch c.action {
	case "fail":
		url = "http://" + c.addr + "/control/fail?status=" + strconv.Itoa(c.status)
	case "slow":
		url = "http://" + c.addr + "/control/slow?delay=" + c.delay.String()
	}
	var st controlState
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return st, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}} // the instance is local
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxControlBody))
	if err != nil {
		return st, fmt.Errorf("POST %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("POST %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("POST %s: %w", url, err)
	}
	// Each action must show in the answer; slow leaves the failure switch
	// as it was, and heal turns both off.
	var done bool
	switch c.action {
	case "fail":
		done = st.Failing && st.Status == c.status
	case "slow":
		done = st.Delay == c.delay.String()
	default:
		done = !st.Failing && st.Delay == ""
	}
	if !done {
		return st, fmt.Errorf("POST %s: the instance answered %s", url, strings.TrimSpace(string(body)))
	}
	return st, nil
}
