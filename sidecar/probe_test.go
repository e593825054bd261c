package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// probeConfig is one static upstream, the admin API on admin and the probe
// address on probe.
func probeConfig(admin, probe, endpoint string) string {
	return `
service: {name: web}
admin: {listen: "` + admin + `", probe_listen: "` + probe + `"}
drain_timeout: 5s
upstreams:
  - {name: payments, listen: 127.0.0.1:0, endpoints: ["` + endpoint + `"], timeout: 10s}
`
}

func probeGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func refuses(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// With admin.probe_listen the sidecar answers /healthz and /ready there,
// and 404 for the rest of the admin API, which stays on admin.listen. A
// reload does not move it (admin is read at start-up); shutdown closes it.
func TestProbeAddressServesOnlyHealth(t *testing.T) {
	s, err := New(attackConfig(t, probeConfig("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:1")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSidecar(t, s)
	probe, adm := "http://"+s.ProbeAddr(), "http://"+s.AdminAddr()
	if s.ProbeAddr() == "" || s.ProbeAddr() == s.AdminAddr() {
		t.Fatalf("probe address %q, admin %q", s.ProbeAddr(), s.AdminAddr())
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", 200, "ok\n"},
		{"/ready", 200, "ready\n"},
		{"/config", 404, ""},
		{"/upstreams", 404, ""},
		{"/metrics", 404, ""},
		{"/connect", 404, ""},
	} {
		status, body := probeGet(t, probe+tc.path)
		if status != tc.status || tc.body != "" && body != tc.body {
			t.Errorf("probe %s: %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
		}
	}
	if status, body := probeGet(t, adm+"/config"); status != 200 || !strings.Contains(body, `"probe_listen"`) {
		t.Errorf("admin /config: %d %q", status, body)
	}

	// A reload that moves the probe address only warns, like one that moves
	// admin.listen: the probe keeps answering where it was.
	old := s.ProbeAddr()
	moved := freeAddr(t)
	warnings, err := s.Reload(attackConfig(t, probeConfig("127.0.0.1:0", moved, "127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "admin: changed") {
		t.Errorf("reload warnings %q, want the admin section's", warnings)
	}
	if status, _ := probeGet(t, "http://"+old+"/ready"); status != 200 || !refuses(moved) {
		t.Errorf("after the reload: old probe address %d, new one refuses: %v", status, refuses(moved))
	}

	stop()
	if !refuses(old) {
		t.Errorf("probe address %s still accepts after shutdown", old)
	}
}

// While the sidecar drains, the probe address stays up and answers /ready
// 503 "draining", as the admin API does, until in-flight work is done.
func TestProbeAddressDuringDrain(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	defer backend.Close()
	s, err := New(attackConfig(t, probeConfig("127.0.0.1:0", "127.0.0.1:0", backend.Listener.Addr().String())), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	<-s.started

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + s.routes["payments"].port.Addr().String() + "/slow")
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the backend")
	}
	probe := "http://" + s.ProbeAddr()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := probeGet(t, probe+"/ready")
		if status == 503 && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe /ready %d %q, want 503 draining", status, body)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if status, _ := probeGet(t, probe+"/healthz"); status != 200 {
		t.Errorf("probe /healthz while draining: %d", status)
	}
	close(release)
	if status := <-inflight; status != 200 {
		t.Errorf("in-flight request: %d", status)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if !refuses(s.ProbeAddr()) {
		t.Error("probe address still accepts after the drain")
	}
}

// A probe address that cannot be bound fails New with the key's name, and
// frees the ports New had bound already.
func TestProbeAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	admin := freeAddr(t)
	_, err = New(attackConfig(t, probeConfig(admin, taken.Addr().String(), "127.0.0.1:1")), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "admin.probe_listen: ") {
		t.Fatalf("New: %v, want an admin.probe_listen error", err)
	}
	ln, err := net.Listen("tcp", admin)
	if err != nil {
		t.Fatalf("admin.listen %s was not released: %v", admin, err)
	}
	ln.Close()
}
