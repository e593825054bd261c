package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// withProbe adds admin.probe_listen on a free loopback port to a config
// from upstreamYAML.
func withProbe(t *testing.T, yaml string) string {
	t.Helper()
	const admin = "admin:\n  listen: 127.0.0.1:0\n"
	if !strings.Contains(yaml, admin) {
		t.Fatalf("no admin section to extend in:\n%s", yaml)
	}
	return strings.Replace(yaml, admin, admin+"  probe_listen: 127.0.0.1:0\n", 1)
}

// probeAddr is the address from the sidecar's "probe listening" log line,
// which it writes before "admin listening" (what startSidecar waits for).
func probeAddr(t *testing.T, p *sidecarProc) string {
	t.Helper()
	var addr string
	waitFor(t, 5*time.Second, func() bool {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "probe listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	}, `a "probe listening" log line`)
	return addr
}

// The real binary with admin.probe_listen: the probe address answers
// /healthz and /ready (GET and HEAD) and nothing else of the admin API; on
// SIGTERM it answers /ready 503 while in-flight requests drain, and closes
// when the process exits.
func TestProbeListenEndToEnd(t *testing.T) {
	slow, release := newGatedInstance(t)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	p := startSidecar(t, withProbe(t, upstreamYAML("least_conn", "30s", slow.addr())))
	probe := probeAddr(t, p)
	if probe == p.admin {
		t.Fatalf("probe and admin on the same address %s", probe)
	}

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/ready", 200, "ready\n"},
		{"HEAD", "/ready", 200, ""},
		{"POST", "/ready", 405, ""},
		{"GET", "/config", 404, ""},
		{"GET", "/upstreams", 404, ""},
		{"GET", "/metrics", 404, ""},
		{"GET", "/connect", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
	} {
		req, err := http.NewRequest(tc.method, "http://"+probe+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if resp.StatusCode != tc.status || tc.status == 200 && string(b) != tc.body {
			t.Errorf("probe %s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
	// The admin API itself is unchanged, on its own address.
	if status, _, body := getBody(t, "http://"+p.admin+"/config"); status != 200 || !strings.Contains(body, `"probe_listen": "127.0.0.1:0"`) {
		t.Errorf("admin /config: %d\n%s", status, body)
	}

	// One request held at the backend keeps the drain going.
	done := make(chan int, 1)
	go func() {
		status, _, _ := getBodyNoFail(p.url("payments", "/slow"))
		done <- status
	}()
	waitFor(t, 10*time.Second, func() bool { return slow.active.Load() == 1 }, "the request at the backend")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		status, _, body := getBodyNoFail("http://" + probe + "/ready")
		return status == 503 && body == "draining\n"
	}, "probe /ready to answer 503 draining")
	releaseOnce.Do(func() { close(release) })
	if status := <-done; status != 200 {
		t.Errorf("in-flight request: %d", status)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("outrigger did not exit after the drain")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if c, err := net.DialTimeout("tcp", probe, time.Second); err == nil {
		c.Close()
		t.Errorf("probe address %s still accepts after exit", probe)
	}
}
