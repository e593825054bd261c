package admin

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

func readyUpstream(t *testing.T) *upstream.Upstream {
	t.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	up, err := upstream.New(cfg, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	up.Update(nil)
	return up
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// The probe address answers /healthz and /ready and nothing else: not the
// config, the endpoints, the metrics, the mesh identity or the profiles.
func TestProbeHandlerServesOnlyHealth(t *testing.T) {
	h := NewProbeHandler(&fakeState{ups: []*upstream.Upstream{readyUpstream(t)}})
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, "ok\n"}, // the server drops a HEAD's body; the recorder keeps it
		{"GET", "/ready", 200, "ready\n"},
		{"GET", "/ready?verbose=1", 200, "ready\n"},
		{"HEAD", "/ready", 200, "ready\n"},
		{"POST", "/ready", 405, ""},
		{"PUT", "/healthz", 405, ""},
		{"GET", "/metrics", 404, ""},
		{"GET", "/config", 404, ""},
		{"GET", "/upstreams", 404, ""},
		{"GET", "/connect", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
		{"GET", "/debug/pprof/cmdline", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/healthz/x", 404, ""},
		{"GET", "/readyz", 404, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := serve(h, tc.method, tc.path)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && rec.Body.String() != tc.body {
				t.Fatalf("body %q, want %q", rec.Body, tc.body)
			}
		})
	}
}

// Both addresses run the same code: for every state the sidecar can be in,
// the probe address and the admin API give the same status, type and body.
func TestProbeAnswersLikeAdminAPI(t *testing.T) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	waiting, err := upstream.New(cfg, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name  string
		state *fakeState
		ready int
	}{
		{"waiting for discovery", &fakeState{ups: []*upstream.Upstream{waiting}}, 503},
		{"ready", &fakeState{ups: []*upstream.Upstream{readyUpstream(t)}}, 200},
		{"draining", &fakeState{ups: []*upstream.Upstream{readyUpstream(t)}, draining: true}, 503},
	} {
		probe, adm := NewProbeHandler(st.state), NewHandler(st.state, http.NotFoundHandler(), false)
		for _, path := range []string{"/healthz", "/ready"} {
			for _, method := range []string{"GET", "HEAD"} {
				p, a := serve(probe, method, path), serve(adm, method, path)
				if p.Code != a.Code || p.Body.String() != a.Body.String() || p.Header().Get("Content-Type") != a.Header().Get("Content-Type") {
					t.Errorf("%s: %s %s: probe %d %q (%s), admin %d %q (%s)", st.name, method, path,
						p.Code, p.Body, p.Header().Get("Content-Type"), a.Code, a.Body, a.Header().Get("Content-Type"))
				}
			}
		}
		if c := serve(probe, "GET", "/ready").Code; c != st.ready {
			t.Errorf("%s: /ready %d, want %d", st.name, c, st.ready)
		}
	}
}

// The probe server may face the network: every timeout is set, and a head
// far larger than a probe's is refused rather than buffered (Go's default
// would take 1 MiB).
func TestProbeServerBoundsClients(t *testing.T) {
	srv := NewProbeServer(&fakeState{}, slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v read %v write %v idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})

	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}

	req, err := http.NewRequest("GET", base+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 64 KiB head: %d, want 431", resp.StatusCode)
	}
}
