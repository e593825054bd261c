package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// With service.register the app appears in Consul with its check, and on
// SIGTERM it is deregistered before in-flight requests finish draining, so
// peers stop sending first.
func TestRegistrationAndDeregistrationBeforeDrain(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	app := newInstance(t, "app", 0) // the local application the sidecar registers
	_, appPort, _ := net.SplitHostPort(app.addr())

	slow, release := newGatedInstance(t)

	p := startSidecar(t, fmt.Sprintf(`service:
  name: web
  id: web-1
  address: 127.0.0.1
  port: %s
  tags: [blue]
  meta: {version: "1.2"}
  register: true
  check:
    http: http://%s/health
    interval: 1s
    timeout: 1s
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
consul:
  address: %s
upstreams:
  - name: slow
    listen: 127.0.0.1:0
    endpoints: ["%s"]
`, appPort, app.addr(), consul.Addr(), slow.addr()))

	agent := consul.Client().Agent()
	waitFor(t, 10*time.Second, func() bool {
		svcs, err := agent.Services()
		return err == nil && svcs["web-1"] != nil
	}, "web-1 to be registered")
	svc := consul.mustService("web-1")
	if svc.Service != "web" || svc.Port != app.srv.Listener.Addr().(*net.TCPAddr).Port || svc.Address != "127.0.0.1" ||
		len(svc.Tags) != 1 || svc.Tags[0] != "blue" || svc.Meta["version"] != "1.2" {
		t.Fatalf("registered service: %+v", svc)
	}
	// Consul runs a new HTTP check after a random stagger of up to an
	// interval; on a loaded CI machine with several agents it can take a
	// while, hence the generous deadline (it is a poll, not a sleep).
	waitFor(t, 30*time.Second, func() bool {
		entries, _, err := consul.Client().Health().Service("web", "", true, nil)
		return err == nil && len(entries) == 1
	}, "web-1's HTTP check to pass")

	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(p.url("slow", "/"))
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, 5*time.Second, func() bool { return slow.active.Load() == 1 }, "the slow request to be in flight")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		svcs, err := agent.Services()
		return err == nil && svcs["web-1"] == nil
	}, "web-1 to be deregistered while its request is still in flight")
	if slow.active.Load() != 1 {
		t.Fatal("the in-flight request finished before deregistration was checked")
	}
	close(release)
	if status := <-done; status != 200 {
		t.Fatalf("in-flight request: %d", status)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after drain")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
