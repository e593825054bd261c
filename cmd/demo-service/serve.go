package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// shutdownTimeout bounds how long in-flight requests may take after a signal.
const shutdownTimeout = 10 * time.Second

// serveFlags are the server's command-line settings.
type serveFlags struct {
	name        string
	listen      string
	latency     time.Duration
	errorRate   float64
	errorStatus int
	consul      string   // Consul HTTP address; empty: do not register
	service     string   // Consul service name (with consul)
	tags        []string // Consul tags (with consul)
}

// parseServeFlags parses and checks the server's flags, reporting every
// problem at once.
func parseServeFlags(args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("demo-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.name, "name", "", "instance name reported in every response (required)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.DurationVar(&f.latency, "latency", 0, "delay added to every request but /health and /control/*")
	fs.Float64Var(&f.errorRate, "error-rate", 0, "fraction (0..1) of those requests answered with -error-status")
	fs.IntVar(&f.errorStatus, "error-status", http.StatusServiceUnavailable, "status of injected errors")
	fs.StringVar(&f.consul, "consul", "", "Consul HTTP address (host:port): register as -service on start (ID -name, HTTP check on /health), deregister on SIGINT/SIGTERM")
	fs.StringVar(&f.service, "service", "", "Consul service name to register as (required with -consul)")
	tags := fs.String("tags", "", "comma-separated Consul tags (with -consul)")
	if err := fs.Parse(args); err != nil {
		return f, errReported{err} // the flag package has printed it with the usage
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if f.name == "" {
		errs = append(errs, errors.New("-name is required"))
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		errs = append(errs, fmt.Errorf("-listen %q: must be host:port", f.listen))
	}
	if f.latency < 0 {
		errs = append(errs, fmt.Errorf("-latency must be >= 0, got %s", f.latency))
	}
	if !(f.errorRate >= 0 && f.errorRate <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("-error-rate must be between 0 and 1, got %v", f.errorRate))
	}
	if f.errorStatus < 100 || f.errorStatus > 599 {
		errs = append(errs, fmt.Errorf("-error-status must be an HTTP status (100..599), got %d", f.errorStatus))
	}
	for _, t := range strings.Split(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			f.tags = append(f.tags, t)
		}
	}
	if f.consul != "" {
		if _, err := consulBaseURL(f.consul); err != nil {
			errs = append(errs, fmt.Errorf("-consul %w", err))
		}
		if f.service == "" {
			errs = append(errs, errors.New("-service is required with -consul"))
		}
	} else if f.service != "" || len(f.tags) > 0 {
		errs = append(errs, errors.New("-service and -tags only make sense with -consul"))
	}
	return f, errors.Join(errs...)
}

// runServe serves the demo backend until ctx is cancelled, then drains.
// With -consul it registers itself once it is serving and, when ctx ends,
// deregisters before it stops serving, so that nobody is sent to an instance
// that is going away.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if code, ok := flagsExit(stderr, "demo-service", err); !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("instance", f.name)

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		log.Error("cannot listen", "err", err)
		return exitFailure
	}
	b := &backend{
		name:        f.name,
		listen:      ln.Addr().String(),
		latency:     f.latency,
		errorRate:   f.errorRate,
		errorStatus: f.errorStatus,
		rnd:         rand.Float64, // the package-level source is safe for concurrent use
		log:         log,
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", b.listen, "latency", f.latency, "error_rate", f.errorRate)

	code := exitOK
	var consul *consulClient // set while the instance is (or may be) registered
	registered := false      // known to be registered, so deregistering must work
	if f.consul != "" {
		consul, _ = newConsulClient(f.consul) // checked by the flag parser
		err := registerSelf(ctx, consul, f, b.listen, log)
		switch {
		case err == nil:
			registered = true
		case ctx.Err() == nil:
			log.Error("cannot register in Consul", "consul", f.consul, "err", err)
			consul, code = nil, exitFailure
		}
		// When a signal cut the registration short it may have reached
		// the agent all the same, so it is undone below either way.
	}
	if code == exitOK {
		select {
		case err := <-served:
			log.Error("server stopped", "err", err)
			code = exitFailure
		case <-ctx.Done():
		}
	}
	if consul != nil {
		// A fresh context: ctx has ended, and the deregistration must go out.
		switch err := consul.deregister(context.Background(), f.name); {
		case err == nil:
			log.Info("deregistered from Consul", "id", f.name)
		case registered:
			log.Error("cannot deregister from Consul", "consul", f.consul, "err", err)
			code = exitFailure
		default: // probably never registered
			log.Warn("deregistration after an interrupted registration failed", "consul", f.consul, "err", err)
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return exitFailure
	}
	return code
}

// registerSelf registers the instance listening on listenAddr as f.service.
func registerSelf(ctx context.Context, consul *consulClient, f serveFlags, listenAddr string, log *slog.Logger) error {
	reg, err := newRegistration(f.name, f.service, f.tags, listenAddr)
	if err != nil {
		return err
	}
	if err := consul.register(ctx, reg); err != nil {
		return err
	}
	log.Info("registered in Consul", "service", f.service, "id", f.name, "check", reg.Check.HTTP, "tags", strings.Join(f.tags, ","))
	return nil
}
