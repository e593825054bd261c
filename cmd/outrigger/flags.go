package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// newFlagSet returns a flag set that reports errors to stderr and does not
// exit, so every subcommand maps a usage error to exit code 2 itself.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("outrigger "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return err
	}
	return nil
}

// loadConfigFlags parses `-c FILE` for run and validate and loads the file.
// A usage or config problem has already been printed to stderr when ok is
// false; the exit code is then exitUsage either way.
// extra registers a subcommand's own flags (may be nil).
func loadConfigFlags(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (cfg *config.Config, warnings []string, ok bool) {
	fs := newFlagSet(name, stderr)
	file := fs.String("c", "", "config file (default $OUTRIGGER_CONFIG, then ./outrigger.yaml)")
	if extra != nil {
		extra(fs)
	}
	if parseFlags(fs, args) != nil {
		return nil, nil, false
	}
	cfg, warnings, err := config.Load(config.ResolvePath(*file))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	return cfg, warnings, true
}
