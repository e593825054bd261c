package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

type fakeState struct {
	ups      []*upstream.Upstream
	draining bool
}

func (f *fakeState) Upstreams() []*upstream.Upstream { return f.ups }
func (f *fakeState) Listeners() []*router.Handler    { return nil }
func (f *fakeState) Mesh() *connect.Manager          { return nil }
func (f *fakeState) Config() *config.Config          { c := config.Default(); return &c }
func (f *fakeState) Draining() bool                  { return f.draining }

func status(t *testing.T, h http.Handler, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	st := &fakeState{}
	if c := status(t, NewHandler(st, http.NotFoundHandler(), false), "/debug/pprof/"); c != 404 {
		t.Fatalf("pprof off: %d", c)
	}
	if c := status(t, NewHandler(st, http.NotFoundHandler(), true), "/debug/pprof/"); c != 200 {
		t.Fatalf("pprof on: %d", c)
	}
}

func TestReadyFollowsDiscoveryAndDrain(t *testing.T) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	up, err := upstream.New(cfg, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &fakeState{ups: []*upstream.Upstream{up}}
	h := NewHandler(st, http.NotFoundHandler(), false)
	if c := status(t, h, "/ready"); c != 503 {
		t.Fatalf("before discovery: %d", c)
	}
	up.Update(nil)
	if c := status(t, h, "/ready"); c != 200 {
		t.Fatalf("after the first (empty) result: %d", c)
	}
	st.draining = true
	if c := status(t, h, "/ready"); c != 503 {
		t.Fatalf("draining: %d", c)
	}
	if c := status(t, h, "/healthz"); c != 200 {
		t.Fatalf("healthz: %d", c)
	}
}
