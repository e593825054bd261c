package accesslog

import (
	"context"
	"sync/atomic"
)

// Sink is the sidecar's access log as the listeners see it: the Logger in
// use, nil while access_log is off, swapped when a reload changes
// access_log. Handlers hold the Sink for their whole life and load its
// Logger per request (one atomic load: the whole cost when the log is
// off). Its methods may be called from any goroutine; a nil Sink is off.
type Sink struct {
	cur     atomic.Pointer[Logger]
	dropped atomic.Uint64 // shared by every Logger of the Sink
}

// NewSink returns a Sink with no Logger (off).
func NewSink() *Sink { return &Sink{} }

// Logger is the Logger in use, nil when the access log is off.
func (s *Sink) Logger() *Logger {
	if s == nil {
		return nil
	}
	return s.cur.Load()
}

// Dropped is the Sink's Options.Dropped: give it to New so that
// outrigger_access_log_dropped_total counts across reloads.
func (s *Sink) Dropped() *atomic.Uint64 { return &s.dropped }

// DroppedTotal is how many entries were dropped over the Sink's life.
func (s *Sink) DroppedTotal() uint64 {
	if s == nil {
		return 0
	}
	return s.dropped.Load()
}

// Swap puts l (nil: off) in use and returns the Logger it replaces, which
// the caller closes: requests that already loaded it may still enqueue
// until then, and Close writes what they queued.
func (s *Sink) Swap(l *Logger) *Logger { return s.cur.Swap(l) }

// Reopen reopens the current Logger's file (SIGUSR1); nothing to do when
// the log is off or goes to stdout or stderr.
func (s *Sink) Reopen() error {
	if l := s.Logger(); l != nil {
		return l.Reopen()
	}
	return nil
}

// Close closes the Logger in use within ctx (at the end of a drain). It
// stays in place: a request cut by the drain that ends later has its
// entry dropped and counted, not silently skipped.
func (s *Sink) Close(ctx context.Context) error {
	if l := s.Logger(); l != nil {
		return l.Close(ctx)
	}
	return nil
}
