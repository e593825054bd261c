// Package admin serves the sidecar's admin API (docs/contract.md, "Admin API"):
// liveness, readiness, metrics, the upstream table and the effective config.
// It only reads state; nothing here is on the request path.
package admin

import (
	"encoding/json"
	"net/http"
	netpprof "net/http/pprof"
	"strings"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// Health is what /healthz and /ready read: all the probe address
// (probe.go) can reach. Its methods are called concurrently from request
// goroutines, also while a drain holds the sidecar's lock, so they must not
// block.
type Health interface {
	Upstreams() []*upstream.Upstream
	// Mesh is the service-mesh identity, nil when the mesh is not used.
	Mesh() *connect.Manager
	// Draining is true once shutdown has begun.
	Draining() bool
}

// State is what the admin API reads from the running sidecar. Its methods
// are called concurrently from admin request goroutines.
type State interface {
	Health
	Listeners() []*router.Handler
	Config() *config.Config
}

// NewHandler returns the admin API's routes.
// With pprof, Go's profiles are served under /debug/pprof/ too (for
// finding where time goes; the admin API is loopback-only by default).
func NewHandler(st State, metrics http.Handler, pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("/debug/pprof/", netpprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", netpprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", netpprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", netpprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", netpprof.Trace)
	}
	handleHealth(mux, st)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /upstreams", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, upstreamsView(st.Upstreams(), st.Listeners()))
	})
	mux.HandleFunc("GET /connect", func(w http.ResponseWriter, r *http.Request) {
		serveConnect(w, st.Mesh())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		b, err := st.Config().JSON()
		if err != nil {
			writeText(w, http.StatusInternalServerError, "config: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	return mux
}

// handleHealth adds GET (and so HEAD) /healthz and /ready: the same two
// routes on the admin API and on the probe address, so their answers cannot
// drift apart.
func handleHealth(mux *http.ServeMux, h Health) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		serveReady(w, h)
	})
}

// serveReady answers 200 once every upstream has its first discovery
// result (or snapshot) and shutdown has not begun; else 503 with the names
// still waiting, so an orchestrator's probe log says what is missing.
func serveReady(w http.ResponseWriter, st Health) {
	if st.Draining() {
		writeText(w, http.StatusServiceUnavailable, "draining")
		return
	}
	var waiting []string
	if m := st.Mesh(); m != nil && m.Identity() == nil {
		waiting = append(waiting, "connect (leaf certificate, CA roots and intentions)")
	}
	for _, u := range st.Upstreams() {
		if !u.Ready() {
			waiting = append(waiting, u.Name())
		}
	}
	if len(waiting) > 0 {
		writeText(w, http.StatusServiceUnavailable, "waiting for discovery: "+strings.Join(waiting, ", "))
		return
	}
	writeText(w, http.StatusOK, "ready")
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
