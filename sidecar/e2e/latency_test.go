package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A 200 ms endpoint among three 1 ms ones is ejected for latency
// (outlier.latency_factor), and shows so in /upstreams, /metrics and the
// log; none of the fast ones is ejected. Round robin gives the slow one its
// share of requests, so it reaches failure_percentage_min_requests answers
// within a 1 s interval (least_conn would starve it, being busy).
func TestSlowEndpointIsEjectedForLatency(t *testing.T) {
	t.Parallel()
	fast := []*instance{
		newInstance(t, "fast1", time.Millisecond),
		newInstance(t, "fast2", time.Millisecond),
		newInstance(t, "fast3", time.Millisecond),
	}
	slow := newInstance(t, "slow", 200*time.Millisecond)
	p := startSidecar(t, resilienceYAML(`    lb: round_robin
    outlier:
      interval: 1s
      consecutive_5xx: 0
      consecutive_local_failure: 0
      failure_percentage_min_requests: 10
      latency_factor: 5
      base_ejection_time: 1m
`, fast[0].addr(), fast[1].addr(), fast[2].addr(), slow.addr()))

	stop := make(chan struct{})
	sent, failed := loadUntil(p.url("payments", "/"), 8, 20000, stop)
	waitFor(t, 12*time.Second, func() bool {
		e := p.endpointView("payments", slow.addr())
		return e.Ejected && e.EjectionReason == "latency"
	}, "the slow endpoint to be ejected for latency")
	close(stop)
	if n, bad := sent(), failed(); bad != 0 {
		t.Errorf("%d of %d requests failed", bad, n)
	}

	if e := p.endpointView("payments", slow.addr()); e.Ejections != 1 || e.EjectedUntil == "" {
		t.Errorf("slow endpoint: %+v", e)
	}
	for _, in := range fast {
		if e := p.endpointView("payments", in.addr()); e.Ejected || e.Ejections != 0 || e.EjectionReason != "" {
			t.Errorf("fast endpoint %s: %+v", in.addr(), e)
		}
	}
	m := scrape(t, p.admin)
	if want := `outrigger_outlier_ejections_total{endpoint="` + slow.addr() + `",reason="latency",upstream="payments"} 1`; !strings.Contains(m, want) {
		t.Errorf("metrics lack %s; have:\n%s", want, grep(m, "outrigger_outlier_ejections_total"))
	}
	if got := grep(m, "outrigger_outlier_ejections_total{"); strings.Count(got, "\n") > 0 || !strings.Contains(got, slow.addr()) {
		t.Errorf("ejections other than the slow endpoint's:\n%s", got)
	}

	var line struct {
		Endpoint, Reason string
		MeanMs           float64 `json:"mean_ms"`
		MedianMs         float64 `json:"median_ms"`
		Factor           float64
		Requests         uint64
	}
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"outlier ejected endpoint"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
		}
	}
	if line.Endpoint != slow.addr() || line.Reason != "latency" || line.Factor != 5 || line.Requests < 10 ||
		line.MeanMs < 200 || line.MeanMs <= 5*line.MedianMs {
		t.Errorf("ejection log line: %+v", line)
	}
}

// loadUntil sends GETs to url from c clients until stop is closed, max
// requests were sent, or 30 s have passed, whichever comes first. sent and
// failed count the requests sent and those without a 200; call them after
// closing stop (they wait for the clients to finish).
func loadUntil(url string, c, max int, stop <-chan struct{}) (sent, failed func() int) {
	tr := &http.Transport{MaxIdleConnsPerHost: c}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var n, bad atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for range c {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				if n.Add(1) > int64(max) {
					return
				}
				resp, err := client.Get(url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			}
		})
	}
	done := sync.OnceFunc(func() { wg.Wait(); tr.CloseIdleConnections() })
	return func() int { done(); return int(min(n.Load(), int64(max))) },
		func() int { done(); return int(bad.Load()) }
}
