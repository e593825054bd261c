package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

func reloadYAML(upstreams string) string {
	return "service:\n  name: web\nadmin:\n  listen: 127.0.0.1:0\ndrain_timeout: 10s\nupstreams:\n" + upstreams
}

func fixedPort(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", consultest.FreePorts(t, 1)[0])
}

// Reload under a steady load (200 req/s for ~10 s): one upstream added,
// one removed, one's lb changed, one moved to a new address. The upstreams
// that stay fail no request; the new one serves; the removed port closes.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	a, b, c := newInstance(t, "a", 0), newInstance(t, "b", 0), newInstance(t, "c", 0)
	stayL, changeL, moveL, goneL, newL, movedL := fixedPort(t), fixedPort(t), fixedPort(t), fixedPort(t), fixedPort(t), fixedPort(t)
	up := func(name, listen, lb string, eps ...*instance) string {
		q := make([]string, len(eps))
		for i, e := range eps {
			q[i] = fmt.Sprintf("%q", e.addr())
		}
		return fmt.Sprintf("  - name: %s\n    listen: %s\n    lb: %s\n    endpoints: [%s]\n", name, listen, lb, strings.Join(q, ", "))
	}
	before := reloadYAML(up("stay", stayL, "least_conn", a, b) + up("change", changeL, "least_conn", a, b) +
		up("move", moveL, "least_conn", c) + up("gone", goneL, "least_conn", c))
	after := reloadYAML(up("stay", stayL, "least_conn", a, b) + up("change", changeL, "round_robin", a, b) +
		up("move", movedL, "least_conn", c) + up("fresh", newL, "least_conn", c))

	p := startSidecar(t, before)
	file := p.configFile
	var mu sync.Mutex
	targets := []string{"http://" + stayL + "/", "http://" + changeL + "/", "http://" + moveL + "/", "http://" + goneL + "/"}
	urls := func() []string { mu.Lock(); defer mu.Unlock(); return targets }
	stop := make(chan struct{})
	load := steadyLoad(t, urls, 200, 2000, stop)
	waitFor(t, 5*time.Second, func() bool { ok, _, _ := load.snapshot(); return ok[targets[0]] >= 50 }, "load to run")

	// An invalid file first: every error logged, the old config stays.
	os.WriteFile(file, []byte(strings.Replace(after, "lb: round_robin", "lb: fastest", 1)+"    conect_timeout: 1s\n"), 0o644)
	waitFor(t, 5*time.Second, func() bool {
		l := p.logs.String()
		return strings.Contains(l, "upstreams[1].lb") && strings.Contains(l, "conect_timeout")
	}, "both problems of the invalid file to be logged")
	if lb := p.upstreamLB("change"); lb != "least_conn" {
		t.Fatalf("an invalid file changed lb to %q", lb)
	}

	// Now the real change, through the file watcher.
	os.WriteFile(file, []byte(after), 0o644)
	waitFor(t, 5*time.Second, func() bool { return p.upstreamLB("change") == "round_robin" }, "the reload to apply")
	mu.Lock()
	targets = []string{"http://" + stayL + "/", "http://" + changeL + "/", "http://" + movedL + "/", "http://" + newL + "/"}
	mu.Unlock()
	if _, err := net.DialTimeout("tcp", goneL, time.Second); err == nil {
		t.Fatal("the removed upstream's port still accepts connections")
	}
	if _, err := net.DialTimeout("tcp", moveL, time.Second); err == nil {
		t.Fatal("the moved upstream's old port still accepts connections")
	}
	_, _, cfg := getBody(t, "http://"+p.admin+"/config")
	if !strings.Contains(cfg, `"fresh"`) || strings.Contains(cfg, `"gone"`) || !strings.Contains(cfg, `"round_robin"`) {
		t.Fatalf("/config does not show the reload:\n%s", cfg)
	}
	waitFor(t, 20*time.Second, func() bool { return load.requestsSent() >= 2000 }, "the load to finish")
	close(stop)

	ok, refused, failed := load.snapshot()
	for _, u := range []string{"http://" + stayL + "/", "http://" + changeL + "/"} {
		if len(failed[u]) > 0 || refused[u] > 0 || ok[u] < 300 {
			t.Errorf("%s (stays): ok %d refused %d failed %v", u, ok[u], refused[u], failed[u])
		}
	}
	if ok["http://"+newL+"/"] == 0 || ok["http://"+movedL+"/"] == 0 {
		t.Errorf("the new and the moved listeners served nothing: %v", ok)
	}
	for _, u := range []string{"http://" + goneL + "/", "http://" + moveL + "/"} {
		if len(failed[u]) > 0 {
			t.Errorf("%s: accepted requests failed: %v", u, failed[u])
		}
	}
	if !strings.Contains(p.logs.String(), `"upstream removed"`) {
		t.Errorf("no log line for the removed upstream")
	}
}

// SIGHUP reloads too (without a file change event being needed).
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	a := newInstance(t, "a", 0)
	listen := fixedPort(t)
	yaml := func(lb string) string {
		return reloadYAML(fmt.Sprintf("  - name: p\n    listen: %s\n    lb: %s\n    endpoints: [%q]\n", listen, lb, a.addr()))
	}
	p := startSidecar(t, yaml("least_conn"))
	// Write the new content where the watcher cannot see it change, then
	// move it over the file and signal: the signal alone must reload.
	tmp := filepath.Join(t.TempDir(), "next.yaml")
	os.WriteFile(tmp, []byte(yaml("random")), 0o644)
	os.Rename(tmp, p.configFile)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, func() bool { return p.upstreamLB("p") == "random" }, "SIGHUP to reload")
}
