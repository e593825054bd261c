package admin

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// The probe address (admin.probe_listen, docs/lifecycle.md "Probe
// address") lets an orchestrator probe the sidecar from outside the pod or
// group while the admin API, which shows the config and every endpoint
// without authentication, stays on loopback. It may face the network, so
// it serves nothing else and bounds what a client can make it hold.
const (
	// Probes send one short request and wait a second or two; 10s is
	// what the admin API gives a slow header too.
	probeReadTimeout = 10 * time.Second
	// The answers are one line; a client that does not read them for this
	// long is gone.
	probeWriteTimeout = 10 * time.Second
	// Consul's checks keep connections alive between intervals (10s in
	// deploy/); longer idle connections are closed.
	probeIdleTimeout = 60 * time.Second
	// A probe's head is a request line and a few headers; Go's default
	// (1 MiB) is far more than anything legitimate on this port.
	probeMaxHeaderBytes = 8 << 10
	// ProbeMaxConns caps the connections the probe address holds at once
	// (ProbeListener): an orchestrator probes with one or two, a client
	// opening thousands would otherwise hold a descriptor and a goroutine
	// for each, and in the end take the descriptors the data plane needs.
	ProbeMaxConns = 64
)

// NewProbeHandler serves GET and HEAD /healthz and /ready with the admin
// API's own handlers, and 404 for every other path.
func NewProbeHandler(h Health) http.Handler {
	mux := http.NewServeMux()
	handleHealth(mux, h)
	return mux
}

// NewProbeServer is the probe address's server. The sidecar serves it and
// shuts it down alongside the admin API, so that it too answers /ready 503
// "draining" until the drain is over.
func NewProbeServer(h Health, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           NewProbeHandler(h),
		ReadHeaderTimeout: probeReadTimeout,
		ReadTimeout:       probeReadTimeout,
		WriteTimeout:      probeWriteTimeout,
		IdleTimeout:       probeIdleTimeout,
		MaxHeaderBytes:    probeMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ProbeListener caps ln at ProbeMaxConns open connections: with that many
// open, it stops accepting until one closes, so further clients wait in
// the kernel's backlog, as the data plane's listeners do at
// limits.max_connections, instead of taking descriptors and memory.
func ProbeListener(ln net.Listener) net.Listener { return netutil.LimitListener(ln, ProbeMaxConns) }
