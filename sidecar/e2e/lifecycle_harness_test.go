package e2e

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// loadResult counts what a steady load saw, per URL.
type loadResult struct {
	mu       sync.Mutex
	ok       map[string]int
	failed   map[string][]string // accepted requests that did not end in 200
	refused  map[string]int      // connection refused: never accepted
	requests int
}

// steadyLoad sends GETs, one per tick, round-robin over urls, at rate per
// second in all until
// stop is closed or max requests were sent (bounded in count and time),
// from a few workers with keep-alive connections.
func steadyLoad(t *testing.T, urls func() []string, rate int, max int, stop <-chan struct{}) *loadResult {
	t.Helper()
	res := &loadResult{ok: map[string]int{}, failed: map[string][]string{}, refused: map[string]int{}}
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for url := range work {
				resp, err := client.Get(url)
				res.mu.Lock()
				res.requests++
				switch {
				case err != nil && isRefused(err):
					res.refused[url]++
				case err != nil:
					res.failed[url] = append(res.failed[url], err.Error())
				default:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						res.ok[url]++
					} else {
						res.failed[url] = append(res.failed[url], resp.Status+" "+resp.Header.Get("X-Outrigger-Error"))
					}
				}
				res.mu.Unlock()
			}
		}()
	}
	go func() {
		defer func() { close(work); wg.Wait(); tick.Stop(); tr.CloseIdleConnections() }()
		deadline := time.After(time.Minute)
		for sent := 0; sent < max; {
			select {
			case <-stop:
				return
			case <-deadline:
				return
			case <-tick.C:
				us := urls()
				work <- us[sent%len(us)]
				sent++
			}
		}
	}()
	return res
}

func (r *loadResult) snapshot() (ok, refused map[string]int, failed map[string][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok, refused, failed = map[string]int{}, map[string]int{}, map[string][]string{}
	for k, v := range r.ok {
		ok[k] = v
	}
	for k, v := range r.refused {
		refused[k] = v
	}
	for k, v := range r.failed {
		failed[k] = append([]string(nil), v...)
	}
	return ok, refused, failed
}

// isRefused: the request never reached a server (the port was closed).
func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (r *loadResult) requestsSent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (p *sidecarProc) upstreamLB(name string) string {
	for _, u := range p.upstreams().Upstreams {
		if u.Name == name {
			return u.LB
		}
	}
	return ""
}
