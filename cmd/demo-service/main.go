// Command demo-service is a small HTTP backend for trying Outrigger out, plus
// helpers for scripts:
//
//	demo-service -name NAME [-listen ADDR] [-latency D] [-error-rate R] [-error-status CODE]
//	             [-consul ADDR -service NAME [-tags a,b]]
//	demo-service load -url URL [-requests N] [-concurrency C] [-rate R] [-duration D]
//	             [-every D [-ramp INSTANCE]] [-timeout D] [-deadline D] [-json]
//	demo-service freeport [-n K]
//	demo-service consul-wait -consul ADDR -service NAME -passing N [-timeout D]
//	demo-service upstreams -admin ADDR -upstream NAME [-want N | -endpoint HOST:PORT [-want-ejected B]] [-timeout D]
//	demo-service control -addr HOST:PORT fail [-status CODE] | slow -delay D | heal
//	demo-service trace -jaeger URL -trace ID [-services a,b] [-timeout D]
//	demo-service intention -consul ADDR -source S -destination D -action allow|deny|delete
//
// The server answers GET /health with 200 "ok" and every other request with a
// JSON echo naming the instance, so a load run can tell which instance served
// each request. With -consul it registers itself in Consul (ID = -name, with
// an HTTP check on /health) and deregisters on SIGINT/SIGTERM before it stops
// serving. POST /control/fail?status=CODE (default 503) is a failure switch:
// from then on every request but /health and /control/* answers CODE with an
// echo whose error is "failing on purpose", until POST /control/heal. /health
// keeps answering 200, so Consul's check keeps passing: only a client that
// watches real answers (the sidecar's outlier detection) notices. POST
// /control/slow?delay=D is a slow switch in the same way: every such request
// waits D more, until POST /control/heal, which turns both switches off. It
// uses only the standard library, Consul's HTTP API included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes shared by all subcommands.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure (cannot listen, load run incomplete, ...)
	exitUsage   = 2 // bad flags or arguments
)

const usage = `usage:
  demo-service -name NAME [-listen ADDR] [-latency D] [-error-rate R] [-error-status CODE]
      serve the demo backend until SIGINT/SIGTERM;
      with -consul ADDR -service NAME [-tags a,b]: register in Consul on start
      (ID NAME, HTTP check on /health every 1s) and deregister on SIGINT/SIGTERM;
      POST /control/fail?status=CODE and POST /control/heal flip a failure switch,
      POST /control/slow?delay=D a slow switch (heal turns both off)
  demo-service load -url URL [-requests N] [-concurrency C] [-rate R] [-duration D]
                    [-every D [-ramp INSTANCE]] [-timeout D] [-deadline D] [-json]
      send N requests (or for -duration) with C workers, as fast as they are
      answered or -rate a second, and report the share per instance; with
      -every also the shares of each interval; with -ramp, exit 1 unless that
      instance's share ramps up from well under a fair share to near one
  demo-service freeport [-n K]
      print K free loopback TCP ports, one per line
  demo-service consul-wait -consul ADDR -service NAME -passing N [-timeout D]
      wait until Consul lists exactly N passing instances of NAME
  demo-service upstreams -admin ADDR -upstream NAME [-want N] [-timeout D]
      print how many endpoints the sidecar has for upstream NAME
      (with -want: wait until it is N)
  demo-service upstreams -admin ADDR -upstream NAME -endpoint HOST:PORT [-want-ejected true|false] [-timeout D]
      print the outlier state of one endpoint: healthy, ejected, ejection_reason,
      ejections, ejected_until, slow_start_until (with -want-ejected: wait
      until ejected is that)
  demo-service control -addr HOST:PORT fail [-status 503] | slow -delay D | heal
      flip a running instance's switches: with fail, every request but
      /health and /control/* answers the status; with slow, every such
      request waits D more; heal undoes both
  demo-service trace -jaeger http://HOST:PORT -trace ID [-services a,b] [-timeout D]
      wait until Jaeger's query API has the trace (with a span from each of
      -services) and print its span tree: "service: operation [kind] duration"
  demo-service intention -consul ADDR -source S -destination D -action allow|deny|delete
      set or delete a Consul service-mesh intention from S to D

Run "demo-service [load|freeport|consul-wait|upstreams|control|trace|intention] -h" for the flags of each.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches on the first argument; without a known subcommand it serves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "load":
			return runLoad(ctx, args[1:], stdout, stderr)
		case "freeport":
			return runFreeport(args[1:], stdout, stderr)
		case "consul-wait":
			return runConsulWait(ctx, args[1:], stdout, stderr)
		case "upstreams":
			return runUpstreams(ctx, args[1:], stdout, stderr)
		case "control":
			return runControl(ctx, args[1:], stdout, stderr)
		case "trace":
			return runTrace(ctx, args[1:], stdout, stderr)
		case "intention":
			return runIntention(ctx, args[1:], stdout, stderr)
		case "serve":
			return runServe(ctx, args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if len(args[0]) > 0 && args[0][0] != '-' {
			fmt.Fprintf(stderr, "demo-service: unknown command %q\n\n%s", args[0], usage)
			return exitUsage
		}
	}
	return runServe(ctx, args, stdout, stderr)
}

// printUsageError prints each of the problems in err on its own line,
// unless the flag package has already printed it.
// flagsExit turns a subcommand's flag-parsing result into its exit: ok is
// true when the command should run; otherwise code is exitOK for -h and
// exitUsage (with every problem printed) for bad flags.
func flagsExit(stderr io.Writer, prog string, err error) (code int, ok bool) {
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	}
	printUsageError(stderr, prog, err)
	return exitUsage, false
}

func printUsageError(stderr io.Writer, prog string, err error) {
	if errors.As(err, new(errReported)) {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "%s: %s\n", prog, line)
	}
}

// errReported wraps an error that the flag package has already shown.
type errReported struct{ err error }

func (e errReported) Error() string { return e.err.Error() }
func (e errReported) Unwrap() error { return e.err }
