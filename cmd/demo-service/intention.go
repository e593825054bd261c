package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// intentionConfig is one intention run: set an L4 intention source →
// destination to allow or deny, or delete it.
type intentionConfig struct {
	consul, source, destination, action string
}

func parseIntentionFlags(args []string, stderr io.Writer) (intentionConfig, error) {
	var c intentionConfig
	fs := flag.NewFlagSet("demo-service intention", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.consul, "consul", "", "Consul HTTP address, host:port (required)")
	fs.StringVar(&c.source, "source", "", "source service (required)")
	fs.StringVar(&c.destination, "destination", "", "destination service (required)")
	fs.StringVar(&c.action, "action", "", "allow, deny or delete (required)")
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
	if c.source == "" || c.destination == "" {
		errs = append(errs, errors.New("-source and -destination are required"))
	}
	switch c.action {
	case "allow", "deny", "delete":
	default:
		errs = append(errs, fmt.Errorf("-action must be allow, deny or delete, got %q", c.action))
	}
	return c, errors.Join(errs...)
}

// runIntention is the "intention" subcommand: PUT or DELETE
// /v1/connect/intentions/exact?source=&destination= on the agent.
func runIntention(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseIntentionFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service intention", err); !ok {
		return code
	}
	client, _ := newConsulClient(c.consul) // checked by the flag parser
	path := "/v1/connect/intentions/exact?source=" + url.QueryEscape(c.source) + "&destination=" + url.QueryEscape(c.destination)
	if c.action == "delete" {
		err = client.do(ctx, http.MethodDelete, path, nil, nil)
	} else {
		err = client.do(ctx, http.MethodPut, path, map[string]string{"Action": c.action}, nil)
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo-service intention: %v\n", err)
		return exitFailure
	}
	if c.action == "delete" {
		fmt.Fprintf(stdout, "consul: intention %s -> %s deleted\n", c.source, c.destination)
	} else {
		fmt.Fprintf(stdout, "consul: intention %s -> %s: %s\n", c.source, c.destination, c.action)
	}
	return exitOK
}
