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
}

// parseServeFlags parses and checks the server's flags, reporting every
// problem at once.
func parseServeFlags(args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("demo-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.name, "name", "", "instance name reported in every response (required)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.DurationVar(&f.latency, "latency", 0, "delay added to every non-health request")
	fs.Float64Var(&f.errorRate, "error-rate", 0, "fraction (0..1) of non-health requests answered with -error-status")
	fs.IntVar(&f.errorStatus, "error-status", http.StatusServiceUnavailable, "status of injected errors")
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
	return f, errors.Join(errs...)
}

// runServe serves the demo backend until ctx is cancelled, then drains.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		printUsageError(stderr, "demo-service", err)
		return exitUsage
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
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", b.listen, "latency", f.latency, "error_rate", f.errorRate)

	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return exitFailure
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return exitFailure
	}
	return exitOK
}
