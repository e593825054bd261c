package sidecar

// Review tests (service mesh): the inbound per-request check and the
// attribution of outbound handshake failures. Each test states what the
// contract (docs/connect.md, docs/contract.md) or the threat model
// implies; a failure is a finding.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
)

// allowAllAgent answers the intentions match with "allow *" for
// payments; the leaf and roots queries block (no identity is needed for
// verdicts).
type allowAllAgent struct{}

func (allowAllAgent) ConnectCALeaf(_ string, q *api.QueryOptions) (*api.LeafCert, *api.QueryMeta, error) {
	<-q.Context().Done()
	return nil, nil, q.Context().Err()
}

func (allowAllAgent) ConnectCARoots(q *api.QueryOptions) (*api.CARootList, *api.QueryMeta, error) {
	<-q.Context().Done()
	return nil, nil, q.Context().Err()
}

func (allowAllAgent) ConnectAuthorize(*api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
	return &api.AgentAuthorize{Authorized: true, Reason: "Default behavior configured by ACLs"}, nil
}

func (allowAllAgent) IntentionMatch(_ *api.IntentionMatch, q *api.QueryOptions) (map[string][]*api.Intention, *api.QueryMeta, error) {
	if q.WaitIndex == 0 {
		return map[string][]*api.Intention{"payments": {{SourceName: "*", SourceNS: "default", Action: api.IntentionActionAllow}}},
			&api.QueryMeta{LastIndex: 1}, nil
	}
	<-q.Context().Done()
	return nil, nil, q.Context().Err()
}

// allowAllMesh is a sidecar whose intentions allow every source.
func allowAllMesh(t *testing.T) *Sidecar {
	t.Helper()
	m := connect.New(allowAllAgent{}, allowAllAgent{}, connect.Options{Service: "payments", WaitTime: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !m.Allowed("web") {
		if time.Now().After(deadline) {
			t.Fatal("the verdicts never allowed web")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &Sidecar{mesh: m}
}

// inboundRequest is a request on an inbound mTLS connection whose client
// certificate carries uri and expires at notAfter.
func inboundRequest(t *testing.T, uri string, notAfter time.Time) *http.Request {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{{
		URIs: []*url.URL{u}, NotBefore: notAfter.Add(-72 * time.Hour), NotAfter: notAfter,
	}}}
	return r
}

// A verified certificate that names no service is denied and counted
// with source="" (docs/contract.md, outrigger_connect_denied_total:
// "`""` when it names none"). It is counted as "unknown", which is also a
// legal service name: the two cannot be told apart.
func TestDeniedWithoutServiceIsCountedWithEmptySource(t *testing.T) {
	s := allowAllMesh(t)
	if s.authorizeInbound(inboundRequest(t, "spiffe://td.consul/agent/client/dc/dc1/id/node-1", time.Now().Add(time.Hour))) {
		t.Fatal("an agent certificate was authorized")
	}
	var sources []string
	s.mesh.EachDenied(func(src string, n uint64) { sources = append(sources, src) })
	if len(sources) != 1 || sources[0] != "" {
		t.Fatalf("denied sources %q, want [\"\"] (docs/contract.md)", sources)
	}
}

// Certificates are verified only at the handshake; the per-request check
// reads only the SPIFFE ID. A keep-alive connection whose client
// certificate has since expired (or whose root Consul has since pruned)
// keeps reaching the application for as long as the client keeps it
// busy. The verdict is read per request anyway: the leaf's NotAfter is
// a free check there.
func TestExpiredClientCertificateOnAnOpenConnectionIsDenied(t *testing.T) {
	s := allowAllMesh(t)
	if !s.authorizeInbound(inboundRequest(t, connect.ServiceSpiffeID("td.consul", "dc1", "web"), time.Now().Add(time.Hour))) {
		t.Fatal("a valid certificate of an allowed source was denied")
	}
	if s.authorizeInbound(inboundRequest(t, connect.ServiceSpiffeID("td.consul", "dc1", "web"), time.Now().Add(-time.Hour))) {
		t.Fatal("a request on a connection whose client certificate expired an hour ago reached the application")
	}
}

// Before the sidecar has its own leaf and roots (start-up, or Consul
// unreachable at start with consul.snapshot_file or static endpoints),
// every mesh handshake fails locally. h1.Dial reports that as a dial
// error, i.e. the endpoint's connect_failure: each request then counts
// against a healthy endpoint (consecutive_local_failure ejection, the
// breaker), so the endpoints are ejected for the sidecar's own state. The
// same holds for an expired own leaf. A local "no identity" must not be
// the endpoint's failure (nor should the endpoint be dialed at all).
func TestOutboundWithoutOwnIdentityIsNotTheEndpointsFault(t *testing.T) {
	m := connect.New(nil, nil, connect.Options{Service: "web"}) // never run: no identity yet
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	_, err := h1.Dial(context.Background(), &net.Dialer{Timeout: time.Second}, addr, m.ClientTLS("payments", "", []string{"http/1.1"}))
	if err == nil {
		t.Fatal("a handshake without an identity succeeded")
	}
	if h1.DialFailed(err) {
		t.Fatalf("err %v is a dial failure: the endpoint is blamed (connect_failure, ejection) for this sidecar having no leaf yet", err)
	}
}
