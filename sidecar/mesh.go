package sidecar

import (
	"cmp"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/connect"
)

// The service mesh (docs/connect.md): the identity and intentions come
// from the local Consul agent (sidecar/connect); this file puts them on
// the listeners and transports.

// meshManager is the sidecar's mesh identity, created (and its watches
// started) on first use: at New for connect.enabled or an upstream with
// connect, or at a reload that adds the first such upstream. Its watches
// stop at shutdown. s.mu is held, or there is no concurrency yet.
func (s *Sidecar) meshManager() (*connect.Manager, error) {
	if s.mesh != nil {
		return s.mesh, nil
	}
	d, err := s.consul()
	if err != nil {
		return nil, err
	}
	cfg := s.cfg.Load()
	m := connect.New(d.client.Agent(), d.client.Connect(), connect.Options{
		Service: cfg.Service.Name, WaitTime: cfg.Consul.WaitTime, Logger: s.log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.stopMesh = cancel
	s.meshDone.Add(1)
	go func() {
		defer s.meshDone.Done()
		m.Run(ctx)
	}()
	s.mesh = m
	s.meshRef.Store(m)
	return m, nil
}

// upstreamTLS is the mTLS config of an upstream in the mesh, nil for one
// outside it. ALPN says which protocol the peer proxy should expect.
func (s *Sidecar) upstreamTLS(uc config.Upstream) (*tls.Config, error) {
	if !s.cfg.Load().UpstreamConnect(&uc) {
		return nil, nil
	}
	m, err := s.meshManager()
	if err != nil {
		return nil, err
	}
	var alpn []string
	switch uc.Protocol {
	case config.ProtocolHTTP:
		alpn = []string{"http/1.1"}
	case config.ProtocolHTTP2:
		alpn = []string{"h2"}
	}
	// The datacenter its discovery asks (consulSource): the identity
	// expected is that of the service there.
	return m.ClientTLS(uc.Service, cmp.Or(uc.Datacenter, s.cfg.Load().Consul.Datacenter), alpn), nil
}

// connectHealth asks for a service's mesh-facing proxies
// (/v1/health/connect/<service>) where discovery asks for its instances.
type connectHealth struct{ h *api.Health }

func (c connectHealth) ServiceMultipleTags(service string, tags []string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	return c.h.ConnectMultipleTags(service, tags, passingOnly, q)
}

// authorizeInbound is the inbound handler's per-request check: the source
// service is the one in the client certificate of the connection's
// handshake, and the current intentions verdict decides (no I/O).
func (s *Sidecar) authorizeInbound(r *http.Request) bool {
	if r.TLS == nil {
		return false // cannot happen behind meshServer
	}
	src, ok := connect.SourceService(*r.TLS)
	if !ok {
		// A certificate from the roots without a service's SPIFFE ID (an
		// agent's, another namespace's): no intention can allow it.
		s.mesh.CountDenied("")
		return false
	}
	if certs := r.TLS.PeerCertificates; len(certs) == 0 || time.Now().After(certs[0].NotAfter) {
		// Checked at the handshake; a keep-alive connection may outlive it.
		s.mesh.CountDenied(src)
		return false
	}
	if s.mesh.Allowed(src) {
		return true
	}
	s.mesh.CountDenied(src)
	return false
}

// meshHandshakeTimeout bounds an inbound TLS handshake: a client that
// connects and sends nothing holds a slot no longer.
const meshHandshakeTimeout = 10 * time.Second

// meshServer is the inbound listener in the mesh: every connection
// completes an mTLS handshake against the current roots (a client
// without a certificate from them is closed) on its own goroutine, then
// goes to the HTTP server, which checks each request's source.
type meshServer struct {
	inner connServer
	tls   *tls.Config
	log   *slog.Logger

	mu          sync.Mutex
	closing     bool
	handshaking map[net.Conn]struct{}
	wg          sync.WaitGroup
}

func newMeshServer(inner connServer, cfg *tls.Config, log *slog.Logger) *meshServer {
	return &meshServer{inner: inner, tls: cfg, log: log, handshaking: map[net.Conn]struct{}{}}
}

func (m *meshServer) ServeConn(c net.Conn) bool {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return false
	}
	m.handshaking[c] = struct{}{}
	m.wg.Add(1)
	m.mu.Unlock()
	go m.handshake(c)
	return true
}

func (m *meshServer) handshake(c net.Conn) {
	defer m.wg.Done()
	tc := tls.Server(c, m.tls)
	c.SetDeadline(time.Now().Add(meshHandshakeTimeout))
	err := tc.Handshake()
	c.SetDeadline(time.Time{})
	m.mu.Lock()
	delete(m.handshaking, c)
	m.mu.Unlock()
	if err != nil && m.log.Enabled(context.Background(), slog.LevelDebug) {
		// Debug only: anyone who can reach the port can make these.
		m.log.Debug("inbound mTLS handshake refused", "client", c.RemoteAddr().String(), "error", err)
	}
	if err != nil || !m.inner.ServeConn(tc) {
		c.Close()
	}
}

// Shutdown closes the connections still in their handshake, then shuts
// the HTTP server down.
func (m *meshServer) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	for c := range m.handshaking {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return m.inner.Shutdown(ctx)
}
