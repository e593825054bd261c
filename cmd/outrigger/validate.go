package main

import (
	"fmt"
	"io"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// validateCmd loads and checks a config: `ok: N upstreams` and warnings on
// stdout with exit 0, or every problem on stderr with exit 2.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", stderr)
	file := fs.String("c", "", "config file (default $OUTRIGGER_CONFIG, then ./outrigger.yaml)")
	if parseFlags(fs, args) != nil {
		return exitUsage
	}
	cfg, warnings, err := config.Load(config.ResolvePath(*file))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "ok: %d upstreams\n", len(cfg.Upstreams))
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}
