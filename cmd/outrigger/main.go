// Command outrigger is the sidecar's command line (docs/contract.md, "Command line"):
// run, validate, status and version, with exit codes 0 (ok), 1 (runtime
// failure) and 2 (bad config or usage).
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes of every subcommand.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

const usage = `usage: outrigger <command> [flags]

commands:
  run -c FILE [-pprof]     run the sidecar until SIGINT/SIGTERM (-pprof: /debug/pprof/ on the admin API)
  validate -c FILE         check a config file and print its warnings
  status [--admin ADDR]    print the endpoint table of a running sidecar
  version                  print version, commit and Go version

-c defaults to $OUTRIGGER_CONFIG, then ./outrigger.yaml.
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runCmd(rest, stderr)
	case "validate":
		return validateCmd(rest, stdout, stderr)
	case "status":
		return statusCmd(rest, stdout, stderr)
	case "version", "--version", "-v":
		return versionCmd(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "outrigger: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
