package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// clientPaceWriter is a client that takes `hold` of the upstream's clock to
// read each chunk of an answer from endpoint "c" (the backend says which it
// is in X-Backend): a slow reader, on an exact clock.
type clientPaceWriter struct {
	h    http.Header
	clk  *manualClock
	hold time.Duration
}

func (w *clientPaceWriter) Header() http.Header { return w.h }
func (w *clientPaceWriter) WriteHeader(int)     {}
func (w *clientPaceWriter) Write(p []byte) (int, error) {
	if w.h.Get("X-Backend") == "c" {
		w.clk.advance(w.hold)
	}
	return len(p), nil
}

// slowUpload is a streamed request body (no Content-Length, so it is not
// buffered for retries) whose every read takes `hold` of the clock: a
// client trickling its upload.
type slowUpload struct {
	clk  *manualClock
	hold time.Duration
	left int
}

func (b *slowUpload) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	b.clk.advance(b.hold)
	n := min(len(p), b.left, 1024)
	b.left -= n
	return n, nil
}

func (b *slowUpload) Close() error { return nil }

// A client's pace never counts against an endpoint: the latency rule times
// the endpoint — from sending the request to the answer's head, less the
// time spent waiting for the client's body — not how slowly the client
// uploads its body or reads the answer. One slow client per interval on an
// endpoint that is as fast as the others must not eject it; an endpoint
// that is itself slow still is.
func TestLatencyEjectionIgnoresClientPace(t *testing.T) {
	for _, tc := range []struct {
		name        string
		slowReader  bool // the client reads c's answers slowly
		slowUpload  bool // the client trickles its body to c
		slowBackend bool // c itself takes its time to answer
		wantEjected bool
	}{
		{name: "slow reader", slowReader: true},
		{name: "slow upload", slowUpload: true},
		{name: "slow endpoint", slowBackend: true, wantEjected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &manualClock{t: time.Unix(1700000000, 0)}
			addrs := make([]string, 3)
			for i, name := range []string{"a", "b", "c"} {
				addrs[i] = backend(t, func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					if name == "c" && tc.slowBackend {
						clk.advance(time.Second)
					}
					w.Header().Set("X-Backend", name)
					w.Write(bytes.Repeat([]byte("x"), 64<<10))
				})
			}
			cfg := config.DefaultUpstream()
			cfg.Name, cfg.LB = "payments", config.LBRoundRobin
			cfg.Retries.Attempts = 0
			cfg.Outlier.Consecutive5xx, cfg.Outlier.ConsecutiveLocalFailure = 0, 0
			cfg.Outlier.FailurePercentageMinRequests, cfg.Outlier.LatencyFactor = 5, 3
			up, err := upstream.New(cfg, upstream.Options{DiscoveryKind: "static", Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			in := make([]discovery.Instance, len(addrs))
			for i, a := range addrs {
				in[i] = discovery.Instance{Address: a, ID: a, Healthy: true}
			}
			up.Update(in)
			tr := newClient(cfg)
			t.Cleanup(tr.CloseIdleConnections)
			h := NewHandler(up, tr, Options{})

			for i := range 30 { // round robin: 10 answers from each
				// Round robin from the first endpoint: request i goes to
				// addrs[i%3] (checked below), so only c's uploads are slow.
				toC := i%3 == 2
				req := httptest.NewRequestWithContext(context.Background(), "POST", "/up", http.NoBody)
				req.ContentLength = 0
				if tc.slowUpload && toC {
					req.Body, req.ContentLength = &slowUpload{clk: clk, hold: time.Second, left: 8 << 10}, -1
				}
				w := &clientPaceWriter{h: http.Header{}, clk: clk}
				if tc.slowReader {
					w.hold = time.Second
				}
				h.ServeHTTP(w, req)
				if got := w.h.Get("X-Backend"); (got == "c") != toC {
					t.Fatalf("request %d answered by %q: round robin did not go in order", i, got)
				}
			}
			up.Sweep()
			for _, m := range up.Snapshot().Members {
				ep := m.Endpoint
				want := tc.wantEjected && ep.Address == addrs[2]
				if ep.Outlier.Ejected() != want {
					t.Errorf("%s: ejected %v (reason %q), want %v", ep.Address, ep.Outlier.Ejected(), ep.Outlier.Reason(), want)
				}
				if ep.Outlier.Ejected() && ep.Outlier.Reason() != outlier.Latency {
					t.Errorf("%s: reason %q, want latency", ep.Address, ep.Outlier.Reason())
				}
			}
		})
	}
}
