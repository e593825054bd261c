package e2e

import (
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SIGTERM while 50 slow requests are in flight: every one of them completes
// with 200, and the process exits 0.
func TestSigtermDrainsInFlightRequests(t *testing.T) {
	slow, release := newGatedInstance(t)
	p := startSidecar(t, upstreamYAML("least_conn", "30s", slow.addr()))

	const n = 50
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(p.url("payments", "/slow"))
			if err != nil {
				errs[i] = err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "done" {
				statuses[i] = -1
				return
			}
			statuses[i] = resp.StatusCode
		}()
	}
	waitFor(t, 10*time.Second, func() bool { return slow.active.Load() == n }, "50 requests in flight at the backend")

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		status, _, _ := getBodyNoFail("http://" + p.admin + "/ready")
		return status == 503
	}, "/ready to answer 503 while draining")
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || statuses[i] != 200 {
			t.Fatalf("request %d: status %d err %v", i, statuses[i], errs[i])
		}
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("outrigger did not exit after the drain")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func getBodyNoFail(url string) (int, http.Header, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
