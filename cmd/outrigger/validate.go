package main

import (
	"fmt"
	"io"
)

// validateCmd loads and checks a config: `ok: N upstreams` and warnings on
// stdout with exit 0, or every problem on stderr with exit 2.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	cfg, warnings, ok := loadConfigFlags("validate", args, stderr, nil)
	if !ok {
		return exitUsage
	}
	fmt.Fprintf(stdout, "ok: %d upstreams\n", len(cfg.Upstreams))
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}
