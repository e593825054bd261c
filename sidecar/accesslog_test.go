package sidecar

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func accessLogConfig(t *testing.T, backend, logYAML string) string {
	t.Helper()
	return fmt.Sprintf(`
service: {name: web}
admin: {listen: 127.0.0.1:0}
drain_timeout: 2s
upstreams:
  - {name: payments, listen: 127.0.0.1:0, endpoints: [%q]}
access_log: %s
`, backend, logYAML)
}

// fileLines is the file's lines once it has n of them (within 5s).
func fileLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		var lines []string
		if len(b) > 0 {
			lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d lines after 5s, want %d:\n%s", path, len(lines), n, b)
		}
		time.Sleep(5 * time.Millisecond) // polling the log writer's file, bounded by the deadline
	}
}

// access_log is reloadable: a reload to another path and format switches
// the next requests' lines, the old log keeps every line queued for it, a
// path that cannot be opened fails the reload (the old log stays), and
// enabled: false stops the lines.
func TestReloadSwitchesTheAccessLog(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer be.Close()
	backend := strings.TrimPrefix(be.URL, "http://")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")

	s, err := New(attackConfig(t, accessLogConfig(t, backend, fmt.Sprintf("{enabled: true, path: %q}", a))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSidecar(t, s)
	url := "http://" + s.Upstreams()[0].ListenAddr()
	get := func(path string) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	for i := range 3 {
		get(fmt.Sprintf("/a/%d", i))
	}
	if _, err := s.Reload(attackConfig(t, accessLogConfig(t, backend, fmt.Sprintf("{enabled: true, path: %q, format: text}", b)))); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		get(fmt.Sprintf("/b/%d", i))
	}
	if lines := fileLines(t, a, 3); len(lines) != 3 || !strings.HasPrefix(lines[0], `{"time":`) {
		t.Fatalf("a.log: %q", lines)
	}
	if lines := fileLines(t, b, 2); len(lines) != 2 || !strings.HasPrefix(lines[0], "time=") || !strings.Contains(lines[1], "path=/b/1 ") {
		t.Fatalf("b.log: %q", lines)
	}
	if got := s.Config().AccessLog; got.Path != b || got.Format != "text" {
		t.Errorf("/config access_log = %+v after the reload", got)
	}

	bad := filepath.Join(dir, "missing", "c.log")
	_, err = s.Reload(attackConfig(t, accessLogConfig(t, backend, fmt.Sprintf("{enabled: true, path: %q}", bad))))
	if err == nil || !strings.Contains(err.Error(), "access_log.path") {
		t.Fatalf("reload to an unopenable path: %v, want an access_log.path error", err)
	}
	get("/b/2")
	fileLines(t, b, 3) // still the log in use

	if _, err := s.Reload(attackConfig(t, accessLogConfig(t, backend, "{enabled: false}"))); err != nil {
		t.Fatal(err)
	}
	get("/off")
	stop()
	if lines := fileLines(t, b, 3); len(lines) != 3 {
		t.Fatalf("b.log after switching off: %q", lines)
	}
	if s.AccessLogDropped() != 0 {
		t.Errorf("%d lines dropped", s.AccessLogDropped())
	}
}

// SIGUSR1's work: after a rename, the path is opened again and the next
// lines go there; the drain at shutdown writes everything queued.
func TestReopenAccessLog(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer be.Close()
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := New(attackConfig(t, accessLogConfig(t, strings.TrimPrefix(be.URL, "http://"), fmt.Sprintf("{enabled: true, path: %q}", path))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSidecar(t, s)
	url := "http://" + s.Upstreams()[0].ListenAddr()
	for _, p := range []string{"/1", "/2"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p == "/1" {
			fileLines(t, path, 1)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := s.ReopenAccessLog(); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop()
	old, fresh := fileLines(t, path+".1", 1), fileLines(t, path, 1)
	if len(old) != 1 || len(fresh) != 1 || !strings.Contains(fresh[0], `"path":"/2"`) {
		t.Fatalf("rotated %q, new %q", old, fresh)
	}
}

func TestNewRefusesAnUnopenableAccessLog(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing", "a.log")
	_, err := New(attackConfig(t, accessLogConfig(t, "127.0.0.1:1", fmt.Sprintf("{enabled: true, path: %q}", bad))), Options{})
	if err == nil || !strings.Contains(err.Error(), "access_log.path") {
		t.Fatalf("New = %v, want an error naming access_log.path", err)
	}
}
