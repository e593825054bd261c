package sidecar

import (
	"context"
	"reflect"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// The access log (docs/access-log.md): one Sink for the whole sidecar,
// given to every handler, routing listener and TCP server when they are
// built. access_log is reloadable: a reload that changes it opens the new
// log first (a path that cannot be opened fails the reload, nothing
// changed), swaps it into the Sink, and closes the old one in the
// background once what was queued for it is written. Requests in flight
// at the swap write their line to the new one.

// openAccessLog is the Logger of c, nil when the access log is off.
func (s *Sidecar) openAccessLog(c config.AccessLog) (*accesslog.Logger, error) {
	if !c.Enabled {
		return nil, nil
	}
	return accesslog.New(c, accesslog.Options{Logger: s.log, Dropped: s.accessLog.Dropped()})
}

// prepareAccessLog opens the Logger a reload to next switches to; changed
// is false (and nothing opened) when access_log stays as it is.
func (s *Sidecar) prepareAccessLog(cur, next config.AccessLog) (l *accesslog.Logger, changed bool, err error) {
	if reflect.DeepEqual(cur, next) {
		return nil, false, nil
	}
	l, err = s.openAccessLog(next)
	return l, err == nil, err
}

// swapAccessLog puts l (nil: off) in use and retires the old Logger: it
// writes what was queued for it within drain_timeout, then closes its
// file. s.mu is held.
func (s *Sidecar) swapAccessLog(l *accesslog.Logger, c config.AccessLog) {
	old := s.accessLog.Swap(l)
	s.log.Info("access log changed", "enabled", c.Enabled, "path", c.Path, "format", c.Format)
	if old == nil {
		return
	}
	s.retiring.Add(1) // s.mu is held: drain's Wait cannot run meanwhile
	go func() {
		defer s.retiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Load().DrainTimeout)
		defer cancel()
		if err := old.Close(ctx); err != nil {
			s.log.Warn("the replaced access log did not finish writing", "error", err)
		}
	}()
}

// closeAccessLog writes what is queued and closes the log, at the end of
// a drain, within what is left of ctx (at least a second).
func (s *Sidecar) closeAccessLog(ctx context.Context) {
	closeCtx, cancel := context.WithTimeout(context.Background(), max(time.Until(deadlineOf(ctx)), time.Second))
	defer cancel()
	if err := s.accessLog.Close(closeCtx); err != nil {
		s.log.Warn("could not write the whole access log", "error", err)
	}
}

// ReopenAccessLog reopens the access log's file at its path (SIGUSR1,
// after logrotate renamed it). When the path cannot be opened the old
// file stays in use and the error says why. Nothing happens when the log
// is off or goes to stdout or stderr.
func (s *Sidecar) ReopenAccessLog() error { return s.accessLog.Reopen() }

// AccessLogDropped implements metrics.Source: the access-log lines
// dropped (a full queue, a failed write) over the process's life.
func (s *Sidecar) AccessLogDropped() uint64 { return s.accessLog.DroppedTotal() }
