package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// viaFront serves every request through h.ServeVia with via, as a
// routing listener's route does.
func viaFront(t *testing.T, via *Via, endpoints ...string) string {
	t.Helper()
	return viaFrontWith(t, via, Options{Tunnels: true}, endpoints...)
}

func viaFrontWith(t *testing.T, via *Via, opts Options, endpoints ...string) string {
	t.Helper()
	cfg := config.Upstream{Name: "payments", LB: "round_robin", ConnectTimeout: time.Second,
		Timeout: 5 * time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 8}
	up := staticUpstream(t, cfg, endpoints...)
	tr := newClient(cfg)
	t.Cleanup(tr.CloseIdleConnections)
	h := NewHandler(up, tr, opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeVia(w, r, via) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestViaStripsPrefixAndCountsStatus(t *testing.T) {
	seen := make(chan string, 10)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RequestURI
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	var codes statuscount.Codes
	url := viaFront(t, &Via{Listener: "edge", Route: "api", StripPrefix: "/api/", Served: &codes}, be)
	for path, want := range map[string]string{
		"/api/users?q=1": "/users?q=1",
		"/api/":          "/",
		"/api/missing":   "/missing",
		"/apix":          "/apix", // not under the prefix: left alone
		"/api/a%2Fb":     "/a%2Fb",
	} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := <-seen; got != want {
			t.Errorf("%s arrived as %s, want %s", path, got, want)
		}
	}
	if codes.Count(200) != 4 || codes.Count(404) != 1 {
		t.Errorf("counted 200: %d, 404: %d; want 4 and 1", codes.Count(200), codes.Count(404))
	}
}

func TestViaCountsLocalRepliesAndClientsGone(t *testing.T) {
	var codes statuscount.Codes
	url := viaFront(t, &Via{Listener: "edge", Route: "down", Served: &codes}, closedPort(t))
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || codes.Count(502) != 1 {
		t.Errorf("status %d, counted 502: %d", resp.StatusCode, codes.Count(502))
	}

	// A client that leaves before any answer is counted 499.
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{}, 1)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	var gone statuscount.Codes
	url = viaFront(t, &Via{Listener: "edge", Route: "slow", Served: &gone}, be)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/", nil)
	go func() {
		<-started
		cancel()
	}()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was answered")
	}
	deadline := time.Now().Add(5 * time.Second)
	for gone.Count(499) != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if gone.Count(499) != 1 {
		t.Errorf("a client that left was not counted 499")
	}
}

// The client span of a routed request names the listener and the route.
func TestViaNamesTheRouteOnTheSpan(t *testing.T) {
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	tr, rec := recordingTracing(t)
	url := viaFrontWith(t, &Via{Listener: "edge", Route: "api"}, Options{Tracing: tr}, be)
	resp, err := http.Get(url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	a := attrs(spans[0])
	if a[tracing.AttrListener].AsString() != "edge" || a[tracing.AttrRoute].AsString() != "api" ||
		a[tracing.AttrUpstream].AsString() != "payments" {
		t.Errorf("span attributes %v", a)
	}
}
