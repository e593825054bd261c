package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/outrigger-mesh/outrigger/sidecar"
)

// notifyReopen installs the handler of reopenSignals (SIGUSR1:
// logrotate's postrotate, docs/access-log.md) at once, before the
// listeners serve, whether or not the access log is on: a stray SIGUSR1
// must never kill the sidecar (its default action).
func notifyReopen() chan os.Signal {
	sig := make(chan os.Signal, 1)
	if len(reopenSignals) > 0 {
		signal.Notify(sig, reopenSignals...)
	}
	return sig
}

// watchReopen reopens the access log's file on every signal from sig
// until ctx ends. A path that cannot be opened is logged and the old
// file stays in use.
func watchReopen(ctx context.Context, sc *sidecar.Sidecar, sig chan os.Signal, log *slog.Logger) {
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sig:
			if err := sc.ReopenAccessLog(); err != nil {
				log.Error("access log not reopened; the old file stays in use", "signal", s.String(), "error", err)
				continue
			}
			log.Info("access log reopened", "signal", s.String())
		}
	}
}
