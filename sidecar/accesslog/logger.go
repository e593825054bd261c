package accesslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// DefaultQueue is how many entries wait for the writer before new ones
// are dropped: at ~200 bytes an entry, under 1 MiB, and several
// milliseconds of a fast proxy's requests, which is what a write to a
// healthy disk may take.
const DefaultQueue = 4096

// bufferSize is how much formatted text the writer gathers before a
// write: one write(2) per batch, never one per line.
const bufferSize = 64 << 10

// errorLogEvery bounds how often a failing write is logged: a full disk
// fails every batch.
const errorLogEvery = time.Minute

// Options are a Logger's optional parts.
type Options struct {
	// Logger reports write and reopen errors; nil discards them.
	Logger *slog.Logger
	// Queue is the queue's capacity; 0 means DefaultQueue.
	Queue int
	// Dropped counts the entries dropped (queue full, a failed write, a
	// closed Logger); nil: the Logger's own. A Sink shares one among the
	// Loggers it holds over time, so the metric never goes backwards.
	Dropped *atomic.Uint64
	// Now is the clock of Logger.Now; nil means time.Now.
	Now func() time.Time
}

// Logger is one open access log: a bounded queue and the goroutine that
// writes it. Enqueue and Now are called concurrently from the request
// path and never block; Reopen and Close may be called from any
// goroutine.
type Logger struct {
	q       chan Entry
	text    bool // access_log.format text; else json
	dropped *atomic.Uint64
	now     func() time.Time
	log     *slog.Logger
	path    string // "" when the output is not a file Reopen can reopen

	// senders counts Enqueue calls past their closed check, so that Close
	// can wait for them before the writer's last drain: no entry is left
	// in the queue uncounted.
	senders atomic.Int64
	closed  atomic.Bool
	// pending is a file Reopen opened, for the writer to take over.
	pending   atomic.Pointer[os.File]
	wake      chan struct{} // a reopen is pending
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the writer has finished
	closeOnce sync.Once

	// The writer's own.
	out      io.Writer
	file     *os.File // out when it is a file of ours (closed on reopen and Close)
	buf      []byte   // formatted lines not yet written
	lines    int      // lines in buf
	lastErr  time.Time
	errCount int // failed writes since the last one logged
}

// New opens the access log of cfg (path stdout, stderr or a file, opened
// for appending and created 0644 if missing) and starts its writer. An
// error names the key.
func New(cfg config.AccessLog, opts Options) (*Logger, error) {
	switch cfg.Path {
	case "stdout":
		return NewWriter(os.Stdout, cfg.Format, opts), nil
	case "stderr":
		return NewWriter(os.Stderr, cfg.Format, opts), nil
	case "":
		return nil, errors.New("access_log.path: empty")
	}
	f, err := openFile(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("access_log.path: %w", err)
	}
	l := newLogger(f, cfg.Format, opts)
	l.file, l.path = f, cfg.Path
	go l.run()
	return l, nil
}

// NewWriter starts a Logger writing to w, which it never closes (stdout,
// or a test's writer). Reopen does nothing for it.
func NewWriter(w io.Writer, format string, opts Options) *Logger {
	l := newLogger(w, format, opts)
	go l.run()
	return l
}

func newLogger(w io.Writer, format string, opts Options) *Logger {
	n := opts.Queue
	if n <= 0 {
		n = DefaultQueue
	}
	l := &Logger{
		q:       make(chan Entry, n),
		text:    format == FormatText,
		dropped: opts.Dropped,
		now:     opts.Now,
		log:     opts.Logger,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		out:     w,
		buf:     make([]byte, 0, bufferSize),
	}
	if l.dropped == nil {
		l.dropped = new(atomic.Uint64)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// openFile opens path for appending, never blocking (open_unix.go).
func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|openNonblock, 0o644)
	if err != nil {
		return nil, explainOpen(err)
	}
	return f, nil
}

// Now is the Logger's clock, for an Entry's Time and Duration.
func (l *Logger) Now() time.Time { return l.now() }

// Dropped is how many entries were dropped (shared with the Sink's other
// Loggers when it was given one).
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Enqueue hands e to the writer. It never blocks and never allocates: when
// the queue is full, or the Logger closed, e is dropped and counted.
func (l *Logger) Enqueue(e *Entry) {
	l.senders.Add(1)
	if l.closed.Load() {
		l.senders.Add(-1)
		l.dropped.Add(1)
		return
	}
	select {
	case l.q <- *e:
	default:
		l.dropped.Add(1)
	}
	l.senders.Add(-1)
}

// Reopen opens the log's file again at its path (after logrotate renamed
// it): entries the writer takes from then on go to the new file, and the
// old one is closed once what was gathered for it is written. When the
// file cannot be opened, the old one stays in use and the error says why.
// For stdout and stderr it does nothing.
func (l *Logger) Reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return fmt.Errorf("access_log.path: reopening: %w", err)
	}
	if old := l.pending.Swap(f); old != nil {
		old.Close() // two reopens before the writer took the first
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	if l.closed.Load() {
		// The writer may be gone: whoever swaps the file out closes it.
		if f := l.pending.Swap(nil); f != nil {
			f.Close()
		}
	}
	return nil
}

// Close stops taking entries, waits until the writer has written what
// was queued (or ctx ends), and closes the file (never stdout or stderr).
// Entries enqueued afterwards are dropped and counted. It returns ctx's
// error when the writer did not finish in time (a file that blocks); the
// writer then finishes on its own when its write returns.
func (l *Logger) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		// An Enqueue that saw closed false is between its check and its
		// send, which does not block: wait for it, so the writer's last
		// drain sees its entry.
		for l.senders.Load() != 0 {
			runtime.Gosched()
		}
		close(l.stop)
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer. Idle, it waits for an entry: that entry's sender
// wakes it, once. Busy, it wakes every batchEvery, takes what was queued
// meanwhile and writes it in one go, until a round finds the queue empty.
// So under load Enqueue never wakes a goroutine (a send to a buffered
// channel no one waits on), and the file gets one write(2) per round, not
// per line: a line reaches the file within about two rounds.
func (l *Logger) run() {
	defer close(l.done)
	round := time.NewTimer(batchEvery)
	defer round.Stop()
	for {
		select { // idle
		case e := <-l.q:
			l.add(&e)
		case <-l.wake:
			l.takeReopened()
			continue
		case <-l.stop:
			l.finish()
			return
		}
		for busy := true; busy; { // busy
			round.Reset(batchEvery)
			select {
			case <-round.C:
			case <-l.wake: // a reopen: write what was gathered to the old file now
			case <-l.stop:
				l.finish()
				return
			}
			busy = l.drain() > 0
			l.flush()
		}
	}
}

// batchEvery is the writer's round while entries keep coming.
const batchEvery = 20 * time.Millisecond

// finish writes everything queued and closes the files (Close).
func (l *Logger) finish() {
	// Close waited for the senders: a drain that takes less than a
	// queue's worth has emptied it for good.
	for more := true; more; {
		more = l.drain() == cap(l.q)
	}
	l.flush()
	if l.file != nil {
		l.file.Close()
	}
	if f := l.pending.Swap(nil); f != nil {
		f.Close()
	}
}

// drain formats the entries queued now, at most a queue's worth (so that
// senders faster than the writer cannot keep it from writing), and says
// how many it took.
func (l *Logger) drain() int {
	for n := 0; n < cap(l.q); n++ {
		select {
		case e := <-l.q:
			l.add(&e)
		default:
			return n
		}
	}
	return cap(l.q)
}

// add formats e into buf, writing buf first when e may not fit. A reopen
// is taken before each entry, so an entry enqueued after Reopen returned
// goes to the new file.
func (l *Logger) add(e *Entry) {
	l.takeReopened()
	if len(l.buf) > bufferSize-1024 {
		l.flush()
	}
	// Direct calls, not a func value: through one, e would escape and
	// every entry taken off the queue would be allocated.
	if l.text {
		l.buf = AppendText(l.buf, e)
	} else {
		l.buf = AppendJSON(l.buf, e)
	}
	l.lines++
}

// takeReopened switches to the file Reopen opened, if any: what was
// gathered goes to the old file first.
func (l *Logger) takeReopened() {
	if l.pending.Load() == nil {
		return
	}
	f := l.pending.Swap(nil)
	if f == nil {
		return
	}
	l.flush()
	if l.file != nil {
		l.file.Close()
	}
	l.file, l.out = f, f
}

// flush writes buf. Lines a failed write did not complete are dropped and
// counted (a partly written line counts as dropped); the writer carries on
// with the next batch, so a disk that frees up is written to again.
func (l *Logger) flush() {
	if len(l.buf) == 0 {
		return
	}
	n, err := l.out.Write(l.buf)
	if err == nil && n < len(l.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		// A line is lost unless its newline was written: one cut short
		// counts as dropped.
		lost := l.lines
		if n > 0 && n <= len(l.buf) {
			lost = bytes.Count(l.buf[n:], []byte{'\n'})
		}
		l.dropped.Add(uint64(lost))
		l.writeFailed(err, lost)
	}
	l.buf = l.buf[:0]
	l.lines = 0
}

// writeFailed logs a failed write, at most once per errorLogEvery.
func (l *Logger) writeFailed(err error, lost int) {
	l.errCount++
	now := l.now()
	if !l.lastErr.IsZero() && now.Sub(l.lastErr) < errorLogEvery {
		return
	}
	l.log.Error("access log write failed; lines dropped (outrigger_access_log_dropped_total)",
		"error", err, "lines", lost, "failed_writes", l.errCount)
	l.lastErr, l.errCount = now, 0
}
