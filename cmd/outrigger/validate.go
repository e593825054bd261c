package main

import (
	"fmt"
	"io"

	"github.com/outrigger-mesh/outrigger/sidecar/router"
)

// validateCmd loads and checks a config: `ok: N upstreams`, the route
// table of each routing listener as compiled, and warnings on stdout with
// exit 0, or every problem on stderr with exit 2.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	cfg, warnings, ok := loadConfigFlags("validate", args, stderr, nil)
	if !ok {
		return exitUsage
	}
	fmt.Fprintf(stdout, "ok: %d upstreams\n", len(cfg.Upstreams))
	if len(cfg.Listeners) > 0 {
		views := make([]router.View, 0, len(cfg.Listeners))
		for _, lc := range cfg.Listeners {
			t, err := router.Compile(lc, func(string) router.Seat { return nil }, router.Options{})
			if err != nil { // validation makes this unreachable; say so if not
				fmt.Fprintf(stderr, "%s: %v\n", cfg.File, err)
				return exitUsage
			}
			v := t.View()
			v.Listen, v.Protocol = lc.Listen, lc.Protocol
			views = append(views, v)
		}
		fmt.Fprintln(stdout, "routes, in the order a request tries them:")
		router.WriteTable(stdout, views, false)
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}
