package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/outrigger-mesh/outrigger/sidecar"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// notifyReload starts catching SIGHUP for watchReloads.
func notifyReload() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadDebounce lets an editor's burst of events (write, chmod, rename)
// settle into one reload.
const reloadDebounce = 200 * time.Millisecond

// watchReloads re-reads path on SIGHUP and whenever the file changes, and
// applies a valid config to sc. An invalid one is logged with every
// problem and the running config stays. It returns when ctx ends.
//
// The directory is watched, not the file: editors replace files by
// renaming, and Kubernetes swaps a ConfigMap's symlink; either way the
// file's content is compared with the last one applied, so unrelated
// events in the directory reload nothing.
//
// hup is notifyReload's channel, made before the sidecar starts serving: a
// SIGHUP that arrived between start-up and this goroutine's first step
// used to find no handler and end the process (SIGHUP's default action).
func watchReloads(ctx context.Context, sc *sidecar.Sidecar, path string, hup chan os.Signal, log *slog.Logger) {
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	if w, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("cannot watch the config file; reload with SIGHUP", "file", path, "error", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(path)); err != nil {
			log.Warn("cannot watch the config file; reload with SIGHUP", "file", path, "error", err)
		} else {
			events = w.Events
		}
	}
	last := digest(path)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading the config", "file", path)
			last = reload(sc, path, log)
		case <-events:
			debounce = time.After(reloadDebounce)
		case <-debounce:
			debounce = nil
			if d := digest(path); d != last && d != ([32]byte{}) {
				log.Info("config file changed: reloading", "file", path)
				last = reload(sc, path, log)
			}
		}
	}
}

// reload loads path and applies it; it returns the digest of what it read.
func reload(sc *sidecar.Sidecar, path string, log *slog.Logger) [32]byte {
	d := digest(path)
	cfg, warnings, err := config.Load(path)
	if err != nil {
		var errs *config.Errors
		if errors.As(err, &errs) {
			for _, p := range errs.Problems {
				log.Error("config reload rejected; the running config stays", "file", path, "key", p.Key, "problem", p.Msg)
			}
		} else {
			log.Error("config reload rejected; the running config stays", "file", path, "error", err)
		}
		return d
	}
	for _, w := range warnings {
		log.Warn("config warning", "file", path, "warning", w)
	}
	ignored, err := sc.Reload(cfg)
	for _, w := range ignored {
		log.Warn("config reload: not applied", "file", path, "warning", w)
	}
	if err != nil {
		log.Error("config reload failed; the running config stays", "file", path, "error", err)
	}
	return d
}

func digest(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}
