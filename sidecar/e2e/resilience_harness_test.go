package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
)

// switchable is a real backend whose behaviour a test changes while it
// runs: answer 200 with its name, answer a status, or hang.
type switchable struct {
	*instance
	status atomic.Int64 // 0 = healthy (200), else the status to answer
	hang   atomic.Bool
	stop   chan struct{}
}

func newSwitchable(t *testing.T, name string) *switchable {
	t.Helper()
	s := &switchable{instance: &instance{}, stop: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		if s.hang.Load() {
			select {
			case <-s.stop:
			case <-r.Context().Done():
			}
			return
		}
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
			io.WriteString(w, name+" failing")
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(func() { close(s.stop); s.srv.Close() })
	return s
}

// endpointView returns /upstreams' view of one endpoint.
func (p *sidecarProc) endpointView(upstream, addr string) admin.EndpointView {
	p.t.Helper()
	for _, u := range p.upstreams().Upstreams {
		if u.Name != upstream {
			continue
		}
		for _, e := range u.Endpoints {
			if e.Address == addr {
				return e
			}
		}
	}
	p.t.Fatalf("no endpoint %s in upstream %s", addr, upstream)
	return admin.EndpointView{}
}

func (p *sidecarProc) breakerState(upstream string) string {
	p.t.Helper()
	for _, u := range p.upstreams().Upstreams {
		if u.Name == upstream {
			return u.Breaker
		}
	}
	p.t.Fatalf("no upstream %s", upstream)
	return ""
}

// sequential sends n GETs one after another and returns the status counts
// and the local-reply codes seen.
func sequential(t *testing.T, url string, n int) (byStatus map[int]int, byReason map[string]int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	byStatus, byReason = map[int]int{}, map[string]int{}
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			byStatus[0]++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		byStatus[resp.StatusCode]++
		if reason := resp.Header.Get("X-Outrigger-Error"); reason != "" {
			byReason[reason]++
		}
	}
	return byStatus, byReason
}
