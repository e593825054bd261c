package connect

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// tlsServer is a loopback TLS server: each connection's handshake result
// goes to results; a connection that completes it gets "ok\n" and then an
// echo of what it sends.
type tlsServer struct {
	addr    string
	results chan serverResult
}

type serverResult struct {
	err   error
	state tls.ConnectionState
}

func serveTLS(t *testing.T, cfg *tls.Config) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &tlsServer{addr: ln.Addr().String(), results: make(chan serverResult, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				err := tc.Handshake()
				s.results <- serverResult{err, tc.ConnectionState()}
				if err != nil {
					return
				}
				c.SetDeadline(time.Time{})
				if _, err := io.WriteString(tc, "ok\n"); err != nil {
					return
				}
				io.Copy(tc, tc)
			}()
		}
	}()
	return s
}

func (s *tlsServer) next(t *testing.T) serverResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the server saw no handshake")
		return serverResult{}
	}
}

// dial completes a handshake with cfg and reads the server's "ok": a
// server that refused the client's certificate fails it here (in TLS 1.3
// the client's handshake ends before the server has checked it).
func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, *bufio.Reader, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, nil, err
	}
	r := bufio.NewReader(tc)
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, nil, err
	}
	if line != "ok\n" {
		t.Fatalf("server said %q", line)
	}
	c.SetDeadline(time.Time{})
	return tc, r, nil
}

// mesh is two services' Managers over one CA.
type mesh struct {
	ca       *testCA
	web, pay *Manager
}

func newMesh(t *testing.T) *mesh {
	t.Helper()
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	return &mesh{
		ca:  ca,
		web: startReady(t, "web", staticAgent(ca.leaf(t, "dc1", "web"), rootList(ca))),
		pay: startReady(t, "payments", staticAgent(ca.leaf(t, "dc1", "payments"), rootList(ca))),
	}
}

func peerSerial(cs tls.ConnectionState) string { return colonHex(cs.PeerCertificates[0].SerialNumber) }

func TestMutualTLSBetweenServices(t *testing.T) {
	m := newMesh(t)
	srv := serveTLS(t, m.pay.ServerTLS([]string{"h2", "http/1.1"}))
	for _, dc := range []string{"", "dc1"} {
		c, _, err := dial(t, srv.addr, m.web.ClientTLS("payments", dc, []string{"h2"}))
		if err != nil {
			t.Fatalf("dc %q: %v", dc, err)
		}
		r := srv.next(t)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if src, ok := SourceService(r.state); !ok || src != "web" {
			t.Fatalf("server sees source %q %v, want web", src, ok)
		}
		cs := c.ConnectionState()
		if dst, ok := SourceService(cs); !ok || dst != "payments" {
			t.Fatalf("client sees peer %q %v, want payments", dst, ok)
		}
		if cs.NegotiatedProtocol != "h2" || cs.Version < tls.VersionTLS12 {
			t.Fatalf("ALPN %q version %x", cs.NegotiatedProtocol, cs.Version)
		}
		if got, want := peerSerial(r.state), m.web.Identity().Serial; got != want {
			t.Fatalf("client certificate serial %s, want web's %s", got, want)
		}
	}
}

func TestClientRefusesAnotherService(t *testing.T) {
	m := newMesh(t)
	srv := serveTLS(t, m.pay.ServerTLS(nil))
	td := m.ca.trustDomain
	for _, tc := range []struct{ service, dc, want string }{
		{"billing", "", "expected spiffe://" + td + "/ns/default/dc/dc1/svc/billing, got spiffe://" + td + "/ns/default/dc/dc1/svc/payments"},
		{"payments", "dc2", "expected spiffe://" + td + "/ns/default/dc/dc2/svc/payments, got spiffe://" + td + "/ns/default/dc/dc1/svc/payments"},
	} {
		_, _, err := dial(t, srv.addr, m.web.ClientTLS(tc.service, tc.dc, nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("dialing %s in %q: error %v, want one saying %q", tc.service, tc.dc, err, tc.want)
		}
		srv.next(t) // the server's side of it
	}
}

func TestServerRefusesCertificatesNotFromTheRoots(t *testing.T) {
	m := newMesh(t)
	other := newTestCA(t, "rogue", m.ca.trustDomain) // same trust domain, another key
	rogue := other.leaf(t, "dc1", "web")
	cert, err := tls.X509KeyPair([]byte(rogue.CertPEM), []byte(rogue.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, m.pay.ServerTLS(nil))
	for name, cfg := range map[string]*tls.Config{
		"another CA's certificate": {InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}},
		"no certificate":           {InsecureSkipVerify: true},
	} {
		if _, _, err := dial(t, srv.addr, cfg); err == nil {
			t.Fatalf("%s: the client got through", name)
		}
		r := srv.next(t)
		if r.err == nil {
			t.Fatalf("%s: the server completed the handshake", name)
		}
		t.Logf("%s: %v", name, r.err)
		if name == "another CA's certificate" && !strings.Contains(r.err.Error(), "does not verify against the current Consul CA roots") {
			t.Fatalf("server error %v", r.err)
		}
	}
}

func TestClientRefusesAServerNotFromTheRoots(t *testing.T) {
	m := newMesh(t)
	other := newTestCA(t, "rogue", m.ca.trustDomain)
	rogue := other.leaf(t, "dc1", "payments") // the right name, the wrong CA
	cert, err := tls.X509KeyPair([]byte(rogue.CertPEM), []byte(rogue.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert})
	_, _, err = dial(t, srv.addr, m.web.ClientTLS("payments", "", nil))
	if err == nil || !strings.Contains(err.Error(), "does not verify against the current Consul CA roots") {
		t.Fatalf("error %v, want a chain failure", err)
	}
}

func TestPeerIntermediatesAreUsed(t *testing.T) {
	// After a CA rotation Consul signs leaves with the new root and appends
	// the new root cross-signed by the old one; a peer that still trusts
	// only the old root verifies them through that intermediate.
	m := newMesh(t)
	next := newTestCA(t, "root-2", m.ca.trustDomain)
	leaf := next.leafURI(t, ServiceSpiffeID(next.trustDomain, "dc1", "payments"), "payments", next.crossSignedBy(t, m.ca))
	pay := startReady(t, "payments", staticAgent(leaf, rootList(next, m.ca)))
	srv := serveTLS(t, pay.ServerTLS(nil))
	if _, _, err := dial(t, srv.addr, m.web.ClientTLS("payments", "", nil)); err != nil {
		t.Fatalf("a leaf of the new root, cross-signed for the old one: %v", err)
	}
	if r := srv.next(t); r.err != nil || len(r.state.PeerCertificates) != 1 {
		t.Fatalf("server: %v", r.err)
	}
}

func TestExpiredPeerIsRefused(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	web := startReady(t, "web", staticAgent(ca.leaf(t, "dc1", "web"), rootList(ca)))
	agent := staticAgent(ca.leaf(t, "dc1", "payments"), rootList(ca))
	pay := New(agent, agent, Options{Service: "payments", Now: func() time.Time { return testNow.Add(4 * time.Hour) }})
	run(t, pay)
	waitReady(t, pay)
	srv := serveTLS(t, pay.ServerTLS(nil))
	dial(t, srv.addr, web.ClientTLS("payments", "", nil))
	var invalid x509.CertificateInvalidError
	if r := srv.next(t); !errors.As(r.err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("server error %v, want the client certificate expired at the Manager's clock", r.err)
	}
}

func TestRotationAppliesToTheNextHandshake(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	// rotating is a Manager whose leaf is replaced when gate closes.
	rotating := func(service string) (m *Manager, first, second *api.LeafCert, gate chan struct{}) {
		first, second = ca.leaf(t, "dc1", service), ca.leaf(t, "dc1", service)
		gate = make(chan struct{})
		agent := staticAgent(nil, rootList(ca))
		agent.leaf = newScript(
			answer[*api.LeafCert]{index: 10, val: first},
			answer[*api.LeafCert]{index: 11, val: second, gate: gate},
		)
		return startReady(t, service, agent), first, second, gate
	}
	web, webFirst, webSecond, webGate := rotating("web")
	pay, payFirst, paySecond, payGate := rotating("payments")
	srv := serveTLS(t, pay.ServerTLS(nil))
	clientCfg := web.ClientTLS("payments", "", nil) // one config across the rotations

	old, oldR, err := dial(t, srv.addr, clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	r := srv.next(t)
	if got := peerSerial(old.ConnectionState()); got != payFirst.SerialNumber {
		t.Fatalf("server certificate %s, want %s", got, payFirst.SerialNumber)
	}
	if got := peerSerial(r.state); got != webFirst.SerialNumber {
		t.Fatalf("client certificate %s, want %s", got, webFirst.SerialNumber)
	}

	close(payGate)
	close(webGate)
	eventually(t, 5*time.Second, "the rotated leaves are in use", func() bool {
		return pay.Identity().Serial == paySecond.SerialNumber && web.Identity().Serial == webSecond.SerialNumber
	})
	c, _, err := dial(t, srv.addr, clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	r = srv.next(t)
	if got := peerSerial(c.ConnectionState()); got != paySecond.SerialNumber {
		t.Fatalf("after the rotation the server presented %s, want %s", got, paySecond.SerialNumber)
	}
	if got := peerSerial(r.state); got != webSecond.SerialNumber {
		t.Fatalf("after the rotation the client presented %s, want %s", got, webSecond.SerialNumber)
	}
	// The connection made before the rotation is unaffected.
	old.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(old, "still here\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := oldR.ReadString('\n'); err != nil || line != "still here\n" {
		t.Fatalf("old connection: %q %v", line, err)
	}
}

func TestRootsRotationOnlyCurrentRootsVerify(t *testing.T) {
	ca1 := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	ca2 := newTestCA(t, "root-2", ca1.trustDomain)
	web := startReady(t, "web", staticAgent(ca1.leaf(t, "dc1", "web"), rootList(ca1)))
	gate := make(chan struct{})
	agent := staticAgent(ca1.leaf(t, "dc1", "payments"), nil)
	agent.roots = newScript(
		answer[*api.CARootList]{index: 5, val: rootList(ca1)},
		answer[*api.CARootList]{index: 6, val: rootList(ca2), gate: gate}, // root-1 pruned
	)
	pay := startReady(t, "payments", agent)
	srv := serveTLS(t, pay.ServerTLS(nil))
	if _, _, err := dial(t, srv.addr, web.ClientTLS("payments", "", nil)); err != nil {
		t.Fatal(err)
	}
	srv.next(t)
	close(gate)
	eventually(t, 5*time.Second, "the new roots are in use", func() bool { return pay.Identity().ActiveRootID == "root-2" })
	dial(t, srv.addr, web.ClientTLS("payments", "", nil))
	if r := srv.next(t); r.err == nil {
		t.Fatal("a client certificate of a pruned root was accepted")
	}
}

func TestHandshakeBeforeIdentityFails(t *testing.T) {
	agent := staticAgent(nil, nil)
	m := New(agent, agent, Options{Service: "payments"}) // never run
	srv := serveTLS(t, m.ServerTLS(nil))
	if _, _, err := dial(t, srv.addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Fatal("a handshake without an identity succeeded")
	}
	if r := srv.next(t); r.err == nil || !strings.Contains(r.err.Error(), "no leaf certificate") {
		t.Fatalf("server error %v", r.err)
	}
}

func TestSourceService(t *testing.T) {
	cert := func(uris ...string) tls.ConnectionState {
		c := &x509.Certificate{}
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		return tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{c}}
	}
	for _, tc := range []struct {
		cs   tls.ConnectionState
		want string
		ok   bool
	}{
		{cert("spiffe://td.consul/ns/default/dc/dc1/svc/web"), "web", true},
		{cert("spiffe://td.consul/ap/default/ns/default/dc/dc1/svc/web"), "web", true},
		{cert("spiffe://td.consul/ap/team/ns/default/dc/dc1/svc/web"), "", false},
		{cert("spiffe://td.consul/ns/team/dc/dc1/svc/web"), "", false},
		{cert("spiffe://td.consul/agent/client/dc/dc1/id/node-1"), "", false},
		{cert("spiffe://td.consul/ns/default/dc/dc1/svc/"), "", false},
		{cert("spiffe://td.consul/ns/default/dc/dc1/svc/web/extra"), "", false},
		{cert("https://td.consul/ns/default/dc/dc1/svc/web"), "", false},
		{cert("spiffe://td.consul/ns/default/dc/dc1/svc/web", "spiffe://td.consul/ns/default/dc/dc1/svc/admin"), "", false},
		{cert(), "", false},
		{tls.ConnectionState{}, "", false},
	} {
		got, ok := SourceService(tc.cs)
		if got != tc.want || ok != tc.ok {
			var uris []string
			if len(tc.cs.PeerCertificates) > 0 {
				uris = uriSANs(tc.cs.PeerCertificates[0])
			}
			t.Fatalf("SourceService(%v) = %q %v, want %q %v", uris, got, ok, tc.want, tc.ok)
		}
	}
}
