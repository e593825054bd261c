//go:build unix

package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// mkfifo makes a FIFO no one reads; cleanup opens its read end, which
// releases an open that is (wrongly) still blocked on it, so a failing
// test does not leave a goroutine stuck.
func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return path
}

// within runs f and fails the test if it has not returned within d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s blocked for %v", what, d)
		return nil
	}
}

// access_log.path naming a FIFO that no process reads must fail with an
// error naming the key, not block: New runs at start-up and in a reload,
// which holds the sidecar's lock (a reload, and a SIGTERM drain, would wait
// for good); Reopen runs on SIGUSR1, whose handler would stop for good.
func TestOpenNeverBlocksOnAFIFO(t *testing.T) {
	t.Run("New", func(t *testing.T) {
		path := mkfifo(t)
		err := within(t, 5*time.Second, "New on a FIFO without a reader", func() error {
			l, err := New(config.AccessLog{Enabled: true, Path: path, Format: FormatJSON}, Options{})
			if err == nil {
				l.Close(t.Context())
			}
			return err
		})
		if err == nil || !strings.HasPrefix(err.Error(), "access_log.path: ") {
			t.Fatalf("New = %v, want an error naming access_log.path", err)
		}
	})
	t.Run("Reopen", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "access.log")
		l, err := New(config.AccessLog{Enabled: true, Path: path, Format: FormatJSON}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer closeWithin(t, l, 5*time.Second)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		t.Cleanup(func() {
			if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
		err = within(t, 5*time.Second, "Reopen onto a FIFO without a reader", l.Reopen)
		if err == nil || !strings.Contains(err.Error(), "access_log.path") {
			t.Fatalf("Reopen = %v, want an access_log.path error", err)
		}
	})
}

// A FIFO that a log shipper does read is a valid target: the lines reach it.
func TestFIFOWithAReaderWorks(t *testing.T) {
	path := mkfifo(t)
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := New(config.AccessLog{Enabled: true, Path: path, Format: FormatJSON}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Enqueue(entryN(7))
	closeWithin(t, l, 5*time.Second)
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := r.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), `"path":"/n/7"`) {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
