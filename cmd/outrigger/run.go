package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/outrigger-mesh/outrigger/sidecar"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// runCmd runs the sidecar until SIGINT or SIGTERM, then drains.
func runCmd(args []string, stderr io.Writer) int {
	var pprof bool
	cfg, warnings, ok := loadConfigFlags("run", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on the admin API")
	})
	if !ok {
		return exitUsage
	}
	tuneGC()
	log := newLogger(cfg.Log, stderr)
	for _, w := range warnings {
		log.Warn("config warning", "file", cfg.File, "warning", w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reopen := notifyReopen()
	hup := notifyReload()
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: log, Version: version, Pprof: pprof})
	if err != nil {
		log.Error("cannot start", "file", cfg.File, "error", err)
		return exitRuntime
	}
	log.Info("outrigger started", "version", version, "service", cfg.Service.Name, "upstreams", len(cfg.Upstreams))
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go watchReloads(watchCtx, sc, cfg.File, hup, log)
	go watchReopen(watchCtx, sc, reopen, log)
	if err := sc.Run(ctx); err != nil {
		log.Error("stopped", "error", err)
		return exitRuntime
	}
	return exitOK
}

// newLogger builds the structured logger of log.level and log.format
// (already validated).
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
