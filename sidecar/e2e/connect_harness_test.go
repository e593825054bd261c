package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
)

// The harness of the service-mesh tests (connect_test.go): mesh configs,
// an application that answers HTTP/1.1 and h2c, Consul's built-in proxy as
// a plain process, TLS clients with and without a mesh identity, and a
// bounded steady load that keeps every failure.

// meshDC is the datacenter of `consul agent -dev`.
const meshDC = "dc1"

// meshApp is the local application behind a mesh proxy: a real loopback
// HTTP server speaking HTTP/1.1 and h2c (prior knowledge) that answers
// "<name> <protocol>", so a test sees which protocol reached it. /hold
// waits until release is closed (or the client goes away).
type meshApp struct {
	name    string
	ln      net.Listener
	hits    atomic.Int64
	active  atomic.Int64
	release chan struct{}
	once    sync.Once
}

// unhold lets every /hold request (and later ones) answer.
func (a *meshApp) unhold() { a.once.Do(func() { close(a.release) }) }

func newMeshApp(t *testing.T, name string) *meshApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &meshApp{name: name, ln: ln, release: make(chan struct{})}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		a.active.Add(1)
		defer a.active.Add(-1)
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/hold" {
			select {
			case <-a.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, a.name+" "+r.Proto)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		a.unhold()
		srv.Close()
	})
	return a
}

func (a *meshApp) addr() string { return a.ln.Addr().String() }
func (a *meshApp) port() string { return strconv.Itoa(a.ln.Addr().(*net.TCPAddr).Port) }

// meshServerYAML is an Outrigger in the mesh in front of an application:
// service name at 127.0.0.1:appPort, connect on, an mTLS inbound listener,
// registered in Consul (with its connect-proxy) when register is set.
func meshServerYAML(name, id, appPort, consulAddr string, register bool) string {
	return fmt.Sprintf(`service:
  name: %s
  id: %s
  address: 127.0.0.1
  port: %s
  register: %t
  check: {interval: 1s, timeout: 1s}
inbound:
  listen: 127.0.0.1:0
connect:
  enabled: true
  register_proxy: true
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
consul:
  address: %s
upstreams: []
`, name, id, appPort, register, consulAddr)
}

// meshClientYAML is an Outrigger in the mesh for service with only
// upstreams (rendered by meshUpstream).
func meshClientYAML(consulAddr, service string, upstreams ...string) string {
	return fmt.Sprintf(`service:
  name: %s
connect:
  enabled: true
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
consul:
  address: %s
upstreams:
%s`, service, consulAddr, strings.Join(upstreams, ""))
}

// meshUpstream renders one upstream with connect: true (the default under
// connect.enabled, written out so the config says it); service "" means
// the upstream's name; no endpoints means Consul discovery.
func meshUpstream(name, service, protocol string, endpoints ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    listen: 127.0.0.1:0\n    protocol: %s\n    connect: true\n    connect_timeout: 2s\n    timeout: 10s\n", name, protocol)
	if service != "" {
		fmt.Fprintf(&b, "    service: %s\n", service)
	}
	if len(endpoints) > 0 {
		fmt.Fprintf(&b, "    endpoints: [\"%s\"]\n", strings.Join(endpoints, `", "`))
	}
	return b.String()
}

// connectInfo is GET /connect: the status and, on 200, the body.
func (p *sidecarProc) connectInfo() (int, admin.ConnectView) {
	var v admin.ConnectView
	resp, err := http.Get("http://" + p.admin + "/connect")
	if err != nil {
		return 0, v
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return -1, v
		}
	}
	return resp.StatusCode, v
}

// waitConnect waits for the sidecar's mesh identity (GET /connect 200).
func waitConnect(t *testing.T, p *sidecarProc, within time.Duration) admin.ConnectView {
	t.Helper()
	var v admin.ConnectView
	waitFor(t, within, func() bool {
		var status int
		status, v = p.connectInfo()
		return status == 200
	}, "GET /connect to answer 200 (the leaf and roots from the agent)")
	return v
}

func waitReady(t *testing.T, p *sidecarProc, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() bool {
		status, _, _ := getBodyNoFail("http://" + p.admin + "/ready")
		return status == 200
	}, "/ready to answer 200")
}

// meshRoots are the agent's CA roots: the trust domain, a pool of every
// root, and how many there are.
func meshRoots(t *testing.T, consul *consulAgent) (trustDomain string, pool *x509.CertPool, n int) {
	t.Helper()
	roots, _, err := consul.Client().Agent().ConnectCARoots(nil)
	if err != nil {
		t.Fatalf("CA roots: %v", err)
	}
	pool = x509.NewCertPool()
	for _, r := range roots.Roots {
		pool.AppendCertsFromPEM([]byte(r.RootCertPEM))
	}
	return roots.TrustDomain, pool, len(roots.Roots)
}

func spiffeOf(trustDomain, service string) string {
	return "spiffe://" + trustDomain + "/ns/default/dc/" + meshDC + "/svc/" + service
}

// leafTLS is a client config presenting service's leaf from the agent (a
// legitimate mesh client), accepting only a peer whose certificate chains
// to the agent's roots with the URI SAN of peer.
func leafTLS(t *testing.T, consul *consulAgent, service, peer string) *tls.Config {
	t.Helper()
	leaf, _, err := consul.Client().Agent().ConnectCALeaf(service, nil)
	if err != nil {
		t.Fatalf("leaf of %s: %v", service, err)
	}
	cert, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	td, pool, _ := meshRoots(t, consul)
	want := spiffeOf(td, peer)
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // verified below: roots and SPIFFE ID, not a DNS name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
				return fmt.Errorf("server certificate does not chain to the agent's roots: %w", err)
			}
			if u := cs.PeerCertificates[0].URIs; len(u) != 1 || u[0].String() != want {
				return fmt.Errorf("server identity %v, want %s", u, want)
			}
			return nil
		},
	}
}

// selfSignedTLS is a client config presenting a self-signed certificate
// that claims the SPIFFE ID uri (a forged identity).
func selfSignedTLS(t *testing.T, uri string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "web"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		InsecureSkipVerify: true,
	}
}

// exchange sends one GET on c and reads the whole response, within 5 s.
func exchange(c net.Conn) (status int, hdr http.Header, body string, err error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /direct HTTP/1.1\r\nHost: payments\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// plainExchange is a GET in plaintext to addr.
func plainExchange(addr string) (int, http.Header, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, "", err
	}
	defer c.Close()
	return exchange(c)
}

// tlsExchange is a GET over TLS (cfg) to addr; a failed handshake is err.
func tlsExchange(addr string, cfg *tls.Config) (int, http.Header, string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return 0, nil, "", fmt.Errorf("handshake: %w", err)
	}
	defer c.Close()
	return exchange(c)
}

// builtinProxy is `consul connect proxy` (Consul's built-in proxy, from
// the agent's own binary) run as a plain process against the test agent.
type builtinProxy struct {
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
}

func startBuiltinProxy(t *testing.T, consul *consulAgent, args ...string) *builtinProxy {
	t.Helper()
	full := append([]string{"connect", "proxy", "-http-addr", consul.Addr(), "-log-level", "debug"}, args...)
	cmd := exec.Command(consul.Binary(), full...)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CONSUL_") { // nothing of the caller's Consul
			env = append(env, e)
		}
	}
	cmd.Env = env
	bp := &builtinProxy{cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = logWriter{bp.log}, logWriter{bp.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(bp.done) }()
	t.Cleanup(func() {
		select {
		case <-bp.done:
		default:
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-bp.done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-bp.done
			}
		}
		if t.Failed() {
			t.Logf("consul connect proxy %s log:\n%s", strings.Join(args, " "), bp.log)
		}
	})
	return bp
}

// logConsulOnFailure shows the agent's log when the test fails.
func logConsulOnFailure(t *testing.T, consul *consulAgent) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul agent log:\n%s", consul.Log())
		}
	})
}

// waitConnectHealth waits until /v1/health/connect/<service>?passing
// lists a proxy at addr.
func waitConnectHealth(t *testing.T, consul *consulAgent, service, addr string, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() bool {
		entries, _, err := consul.Client().Health().Connect(service, "", true, nil)
		if err != nil {
			return false
		}
		for _, e := range entries {
			host := e.Service.Address
			if host == "" {
				host = e.Node.Address
			}
			if net.JoinHostPort(host, strconv.Itoa(e.Service.Port)) == addr {
				return true
			}
		}
		return false
	}, fmt.Sprintf("/v1/health/connect/%s?passing to list %s", service, addr))
}

// rotateCA gives the built-in CA a new private key: Consul generates a new
// root, keeps the old one in the roots (cross-signed) and re-issues every
// leaf from the new one (each after a random delay of up to 30 s).
func rotateCA(t *testing.T, consul *consulAgent) {
	t.Helper()
	conn := consul.Client().Connect()
	cur, _, err := conn.CAGetConfig(nil)
	if err != nil {
		t.Fatalf("CA config: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	for k, v := range cur.Config {
		cfg[k] = v
	}
	delete(cfg, "RootCert")
	cfg["PrivateKey"] = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if _, err := conn.CASetConfig(&api.CAConfig{Provider: "consul", Config: cfg}, nil); err != nil {
		t.Fatalf("CA rotation: %v", err)
	}
}

// meshLoad is a bounded steady load: one GET per tick at rate per second,
// from 8 workers, until stopped, max requests were sent or within passed.
// Every outcome other than 200 is kept with its time since the start.
type meshLoad struct {
	start    time.Time
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	sent, ok int
	failures []string
}

func startMeshLoad(t *testing.T, url string, rate, max int, within time.Duration, keepAlive bool) *meshLoad {
	t.Helper()
	l := &meshLoad{start: time.Now(), stopCh: make(chan struct{}), done: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: 8, DisableKeepAlives: !keepAlive}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				at := time.Since(l.start).Round(time.Millisecond)
				resp, err := client.Get(url)
				var failure string
				if err != nil {
					failure = err.Error()
				} else {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						failure = "reading the body: " + rerr.Error()
					case resp.StatusCode != 200:
						failure = fmt.Sprintf("%s X-Outrigger-Error=%q %q", resp.Status, resp.Header.Get("X-Outrigger-Error"), b)
					}
				}
				l.mu.Lock()
				if failure == "" {
					l.ok++
				} else {
					l.failures = append(l.failures, fmt.Sprintf("at %v: %s", at, failure))
				}
				l.mu.Unlock()
			}
		}()
	}
	go func() {
		defer func() { close(work); wg.Wait(); tr.CloseIdleConnections(); close(l.done) }()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		deadline := time.After(within)
		for n := 0; n < max; n++ {
			select {
			case <-l.stopCh:
				return
			case <-deadline:
				return
			case <-tick.C:
			}
			select {
			case work <- struct{}{}:
				l.mu.Lock()
				l.sent++
				l.mu.Unlock()
			case <-l.stopCh:
				return
			}
		}
	}()
	t.Cleanup(func() { l.finish() })
	return l
}

func (l *meshLoad) counts() (sent, ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.ok, len(l.failures)
}

// finish stops the load and waits for every request in flight.
func (l *meshLoad) finish() (sent, ok int, failures []string) {
	l.stopOnce.Do(func() { close(l.stopCh) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.ok, append([]string(nil), l.failures...)
}

// gatedConsul is a reverse proxy to the agent that holds every request
// until open is called: a Consul that is there but has not answered yet.
type gatedConsul struct {
	addr string
	gate chan struct{}
	once sync.Once
}

func newGatedConsul(t *testing.T, target string) *gatedConsul {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	g := &gatedConsul{gate: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.gate:
		case <-r.Context().Done():
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { g.open(); srv.Close() })
	g.addr = ln.Addr().String()
	return g
}

func (g *gatedConsul) open() { g.once.Do(func() { close(g.gate) }) }

// getVia is a GET with client, the body read; err for a transport error.
func getVia(client *http.Client, url string) (int, http.Header, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// freshClient makes a new TCP connection for every request.
func freshClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2cClient speaks HTTP/2 with prior knowledge (a protocol http2 listener).
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// cuttableProxy is a TCP relay to the agent that the test can cut (every
// connection closed, the port closed: connection refused) and restore on
// the same port: Consul unreachable for the sidecars only, while the
// agent itself (and its health checks) keeps running.
type cuttableProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	cut   bool
	conns map[net.Conn]struct{}
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cutOff)
	return p
}

func (p *cuttableProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln, p.cut = ln, false
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *cuttableProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cuttableProxy) relay(c net.Conn) {
	if !p.track(c) {
		return
	}
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(u) {
		c.Close()
		return
	}
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

// cutOff closes the port and every relayed connection.
func (p *cuttableProxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens on the same port again.
func (p *cuttableProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("re-listening on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// logLines are the sidecar's JSON log records with message msg.
func (p *sidecarProc) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(p.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
