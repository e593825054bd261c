package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// lockedBuffer is a writer the test reads while the Logger writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return splitLines(b.buf.String())
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// blockingWriter blocks every Write until release is closed, and says
// when the first one started.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	lockedBuffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	return w.lockedBuffer.Write(p)
}

func entryN(i int) *Entry {
	return &Entry{Time: time.Unix(1700000000, 0), Upstream: "payments", Method: "GET", Path: fmt.Sprintf("/n/%d", i), Status: 200}
}

func closeWithin(t *testing.T, l *Logger, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A writer that never returns must not hold up the request path: with
// the writer stuck on the first entry, the queue takes exactly its
// capacity and every further entry is dropped and counted, at once.
func TestFullQueueDropsAndNeverBlocks(t *testing.T) {
	w := newBlockingWriter()
	l := NewWriter(w, FormatJSON, Options{Queue: 4})
	l.Enqueue(entryN(0))
	select {
	case <-w.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer never wrote")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 100; i++ {
			l.Enqueue(entryN(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Enqueue blocked behind a stuck writer")
	}
	if got := l.Dropped(); got != 96 {
		t.Errorf("dropped %d, want 96 (100 entries, a queue of 4)", got)
	}
	close(w.release)
	closeWithin(t, l, 5*time.Second)
	lines := w.lines()
	if len(lines) != 5 {
		t.Fatalf("%d lines written, want 5: %q", len(lines), lines)
	}
	for i, line := range lines {
		if want := fmt.Sprintf(`"path":"/n/%d"`, i); !strings.Contains(line, want) {
			t.Errorf("line %d = %s, want %s", i, line, want)
		}
	}
}

// Close writes everything queued before it returns, and whatever is
// enqueued afterwards is counted as dropped.
func TestCloseDrains(t *testing.T) {
	var w lockedBuffer
	l := NewWriter(&w, FormatText, Options{})
	for i := range 1000 {
		l.Enqueue(entryN(i))
	}
	closeWithin(t, l, 10*time.Second)
	if n := len(w.lines()); n != 1000 {
		t.Fatalf("%d lines after Close, want 1000", n)
	}
	l.Enqueue(entryN(1000))
	if l.Dropped() != 1 {
		t.Fatalf("an entry after Close: dropped %d, want 1", l.Dropped())
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Close of a Logger whose writer is stuck returns when its context ends.
func TestCloseBoundedByContext(t *testing.T) {
	w := newBlockingWriter()
	l := NewWriter(w, FormatJSON, Options{})
	l.Enqueue(entryN(0))
	<-w.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline", err)
	}
	close(w.release)
	closeWithin(t, l, 5*time.Second)
}

// Concurrent senders and Close: every entry is either written or counted.
func TestCloseRacingSendersLosesNothingUncounted(t *testing.T) {
	var w lockedBuffer
	l := NewWriter(&w, FormatJSON, Options{Queue: 64})
	var wg sync.WaitGroup
	const senders, each = 8, 500
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				l.Enqueue(entryN(s*each + i))
			}
		})
	}
	closeWithin(t, l, 10*time.Second)
	wg.Wait()
	if got := uint64(len(w.lines())) + l.Dropped(); got != senders*each {
		t.Fatalf("written %d + dropped %d = %d, want %d", len(w.lines()), l.Dropped(), got, senders*each)
	}
}

// logrotate: the file is renamed, then SIGUSR1 reopens the path. Lines
// enqueued before land in either file, lines enqueued after Reopen
// returned in the new one, and none is lost.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(config.AccessLog{Enabled: true, Path: path, Format: FormatJSON}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Enqueue(entryN(i))
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 100; i++ {
		l.Enqueue(entryN(i))
	}
	closeWithin(t, l, 10*time.Second)
	old, fresh := readLines(t, rotated), readLines(t, path)
	if len(old)+len(fresh) != 100 || l.Dropped() != 0 {
		t.Fatalf("%d + %d lines, %d dropped; want 100 and 0", len(old), len(fresh), l.Dropped())
	}
	for i := 50; i < 100; i++ {
		if !containsPath(fresh, i) {
			t.Errorf("line /n/%d, enqueued after Reopen, is not in the new file", i)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v, %v; want mode 0644", fi, err)
	}
}

// A reopen that cannot open the path keeps the old file in use.
func TestReopenFailureKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "access.log")
	l, err := New(config.AccessLog{Enabled: true, Path: path, Format: FormatText}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(sub, moved); err != nil { // the path's directory is gone
		t.Fatal(err)
	}
	err = l.Reopen()
	if err == nil || !strings.Contains(err.Error(), "access_log.path") {
		t.Fatalf("Reopen = %v, want an access_log.path error", err)
	}
	l.Enqueue(entryN(1))
	closeWithin(t, l, 5*time.Second)
	if lines := readLines(t, filepath.Join(moved, "access.log")); len(lines) != 1 {
		t.Fatalf("old file has %d lines, want 1", len(lines))
	}
}

func TestNewRefusesUnopenablePath(t *testing.T) {
	_, err := New(config.AccessLog{Enabled: true, Path: filepath.Join(t.TempDir(), "no", "such", "dir", "a.log"), Format: FormatJSON}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "access_log.path: ") {
		t.Fatalf("New = %v, want an error naming access_log.path", err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func containsPath(lines []string, i int) bool {
	want := fmt.Sprintf(`"path":"/n/%d"`, i)
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// failingWriter fails (ENOSPC) after writing the first n bytes it is
// given, then succeeds on later writes.
type failingWriter struct {
	fail  bool
	cut   int // bytes of the failing write that get through
	wrote bytes.Buffer
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail {
		w.fail = false
		n := min(w.cut, len(p))
		w.wrote.Write(p[:n])
		return n, &os.PathError{Op: "write", Path: "access.log", Err: syscall.ENOSPC}
	}
	return w.wrote.Write(p)
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// A failed write (a full disk) drops the lines it did not complete,
// counts them, and the next batch is written again. The writer's batch
// logic is driven directly here, without its goroutine.
func TestFailedWriteCountsLostLines(t *testing.T) {
	line := len(AppendJSON(nil, entryN(0)))
	for _, tc := range []struct {
		name string
		cut  int // bytes of 3 lines that reach the disk
		lost uint64
	}{
		{"nothing written", 0, 3},
		{"one line whole", line, 2},
		{"one and a half", line + line/2, 2},
		{"all but the last newline", 3*line - 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &failingWriter{fail: true, cut: tc.cut}
			l := newLogger(w, FormatJSON, Options{})
			for i := range 3 {
				l.add(entryN(i))
			}
			l.flush()
			if l.Dropped() != tc.lost {
				t.Fatalf("dropped %d, want %d", l.Dropped(), tc.lost)
			}
			l.add(entryN(3))
			l.flush()
			if l.Dropped() != tc.lost || !strings.HasSuffix(w.wrote.String(), string(AppendJSON(nil, entryN(3)))) {
				t.Fatalf("the batch after the failure was not written: %q", w.wrote.String())
			}
		})
	}
	t.Run("short write", func(t *testing.T) {
		l := newLogger(shortWriter{}, FormatJSON, Options{})
		l.add(entryN(0))
		l.add(entryN(1))
		l.flush()
		if l.Dropped() != 1 {
			t.Fatalf("dropped %d, want 1", l.Dropped())
		}
	})
}

// captureHandler keeps the messages logged.
type captureHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// A disk that stays full is reported once a minute, not once a batch.
func TestWriteErrorsLoggedAtMostOncePerMinute(t *testing.T) {
	now := time.Unix(1700000000, 0)
	logs := &captureHandler{}
	w := &failingWriter{}
	l := newLogger(w, FormatJSON, Options{Logger: slog.New(logs), Now: func() time.Time { return now }})
	fail := func() {
		w.fail = true
		l.add(entryN(0))
		l.flush()
	}
	fail()
	now = now.Add(30 * time.Second)
	fail()
	if len(logs.msgs) != 1 {
		t.Fatalf("%d error lines within a minute, want 1", len(logs.msgs))
	}
	now = now.Add(31 * time.Second)
	fail()
	if len(logs.msgs) != 2 || l.Dropped() != 3 {
		t.Fatalf("%d error lines, %d dropped; want 2 and 3", len(logs.msgs), l.Dropped())
	}
}

func TestSinkCountsAcrossLoggers(t *testing.T) {
	s := NewSink()
	if s.Logger() != nil || s.Reopen() != nil || s.DroppedTotal() != 0 {
		t.Fatal("a new Sink is off")
	}
	var nilSink *Sink
	if nilSink.Logger() != nil || nilSink.DroppedTotal() != 0 || nilSink.Close(context.Background()) != nil {
		t.Fatal("a nil Sink is off")
	}
	var w lockedBuffer
	a := NewWriter(&w, FormatJSON, Options{Dropped: s.Dropped()})
	s.Swap(a)
	closeWithin(t, a, time.Second)
	a.Enqueue(entryN(0)) // closed: dropped
	b := NewWriter(&w, FormatJSON, Options{Dropped: s.Dropped()})
	if old := s.Swap(b); old != a {
		t.Fatal("Swap did not return the old Logger")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Enqueue(entryN(1))
	if s.DroppedTotal() != 2 || s.Logger() != b {
		t.Fatalf("dropped %d (want 2), logger %p (want %p: Close keeps it in place)", s.DroppedTotal(), s.Logger(), b)
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		method, target, want string
	}{
		{"GET", "/a/b?c=d%20e&token=x", "/a/b?c=d%20e&token=x"},
		{"GET", "http://user:secret@example.com:8080/p?q=1", "/p?q=1"},
		{"GET", "https://example.com?q=1", "?q=1"},
		{"GET", "http://example.com", "/"},
		{"OPTIONS", "*", "*"},
		{"CONNECT", "example.com:443", ""},
	} {
		r := &http.Request{Method: tc.method, RequestURI: tc.target}
		if got := Target(r); got != tc.want {
			t.Errorf("Target(%s %s) = %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
	r, _ := http.NewRequest("GET", "http://h/x%2Fy?z=1", nil) // built in code: no RequestURI
	if got := Target(r); got != "/x%2Fy?z=1" {
		t.Errorf("Target(built) = %q", got)
	}
}

func TestTraceParent(t *testing.T) {
	for _, tc := range []struct {
		v    []string
		want string
	}{
		{[]string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{[]string{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}, ""}, // upper case is invalid
		{[]string{"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"}, ""},
		{[]string{"garbage"}, ""},
		{nil, ""},
		{[]string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x"}, ""},
	} {
		id := TraceParent(http.Header{"Traceparent": tc.v})
		got := string(appendTraceID(nil, id))
		if got != tc.want {
			t.Errorf("TraceParent(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// BenchmarkEnqueue is the access log's cost on the request path: copying
// an Entry into the queue. The timer runs only while the queue has room
// (it stops while the writer empties it), so this is the accepted path;
// it must not allocate.
func BenchmarkEnqueue(b *testing.B) {
	l := NewWriter(discard{}, FormatJSON, Options{})
	defer l.Close(context.Background())
	e := sampleEntry()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%DefaultQueue == 0 && i > 0 {
			// Empty the queue here rather than wait for the writer's next
			// round (20 ms): waiting made b.N's run take minutes.
			b.StopTimer()
			for len(l.q) > 0 {
				select {
				case <-l.q:
				default:
				}
			}
			b.StartTimer()
		}
		l.Enqueue(&e)
	}
	b.StopTimer()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkEnqueueFull is the drop path: the queue is full.
func BenchmarkEnqueueFull(b *testing.B) {
	w := newBlockingWriter()
	l := NewWriter(w, FormatJSON, Options{Queue: 1})
	e := sampleEntry()
	for len(l.q) < cap(l.q) {
		l.Enqueue(&e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Enqueue(&e)
	}
	b.StopTimer()
	close(w.release)
	l.Close(context.Background())
}

// BenchmarkFormatJSON is the writer's cost per line.
func BenchmarkFormatJSON(b *testing.B) {
	e := sampleEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for range b.N {
		buf = AppendJSON(buf[:0], &e)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
