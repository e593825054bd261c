package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// The service mesh end to end (docs/connect.md):
// real Outrigger binaries, a real `consul agent -dev` with Connect and its
// built-in CA, Consul's built-in proxy from the same binary, real apps.

// startMeshPair starts payments (an Outrigger with connect, an mTLS
// inbound in front of app, registered with its connect-proxy) and web
// (an Outrigger with connect and the given upstreams), and waits for both
// identities and for each upstream to have found payments' inbound.
func startMeshPair(t *testing.T, consul *consulAgent, app *meshApp, upstreams ...string) (payments, web *sidecarProc) {
	t.Helper()
	return startMeshPairVia(t, consul.Addr(), app, upstreams...)
}

// startMeshPairVia is startMeshPair with the sidecars asking Consul at
// consulAddr.
func startMeshPairVia(t *testing.T, consulAddr string, app *meshApp, upstreams ...string) (payments, web *sidecarProc) {
	t.Helper()
	payments = startSidecar(t, meshServerYAML("payments", "payments-1", app.port(), consulAddr, true))
	inbound := payments.listen["inbound"]
	if inbound == "" {
		t.Fatal("payments logged no inbound listener")
	}
	web = startSidecar(t, meshClientYAML(consulAddr, "web", upstreams...))
	waitConnect(t, payments, 20*time.Second)
	waitConnect(t, web, 20*time.Second)
	for _, u := range upstreams {
		name := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(u, "\n", 2)[0], "  - name:"))
		waitEndpoints(t, web, name, 20*time.Second, inbound)
	}
	waitReady(t, payments, 10*time.Second)
	waitReady(t, web, 10*time.Second)
	return payments, web
}

// Two Outriggers over mTLS, payments found through
// /v1/health/connect/payments (its own connect-proxy registration): HTTP
// and TCP reach the app; plaintext, certificate-less and forged clients
// straight at the inbound reach nothing; /connect and the expiry gauge
// show the identity; the connect-proxy is registered as Consul's own
// sidecars are and deregistered on SIGTERM before the drain.
func TestConnectTwoSidecarsMTLS(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	payments, web := startMeshPair(t, consul, app,
		meshUpstream("payments", "", "http"),
		meshUpstream("payments-tcp", "payments", "tcp"))
	inbound := payments.listen["inbound"]
	td, _, nRoots := meshRoots(t, consul)

	for _, c := range []struct {
		p       *sidecarProc
		service string
	}{{payments, "payments"}, {web, "web"}} {
		_, v := c.p.connectInfo()
		notAfter, err := time.Parse(time.RFC3339, v.Leaf.NotAfter)
		if v.Service != c.service || v.SpiffeID != spiffeOf(td, c.service) || v.TrustDomain != td ||
			v.Roots != nRoots || v.Leaf.Serial == "" || err != nil || !notAfter.After(time.Now()) {
			t.Fatalf("%s: GET /connect = %+v (trust domain %s, %d roots)", c.service, v, td, nRoots)
		}
		gauge := metricValue(t, c.p.admin, "outrigger_connect_leaf_expiry_timestamp_seconds")
		if int64(gauge) != notAfter.Unix() {
			t.Fatalf("%s: outrigger_connect_leaf_expiry_timestamp_seconds = %v, leaf not_after %s", c.service, gauge, v.Leaf.NotAfter)
		}
	}

	got, bad := drive(t, web.url("payments", "/"), 50, 5)
	if len(bad) > 0 || got["payments HTTP/1.1"] != 50 {
		t.Fatalf("through web's upstream: %v, failures %v", got, bad)
	}
	fresh := freshClient(t)
	for i := range 5 { // protocol tcp: every connection its own mTLS handshake
		status, _, body, err := getVia(fresh, "http://"+web.listen["payments-tcp"]+"/tcp")
		if err != nil || status != 200 || body != "payments HTTP/1.1" {
			t.Fatalf("tcp upstream, connection %d: %d %q %v", i, status, body, err)
		}
	}

	// Straight at payments' inbound, without a mesh identity: nothing
	// reaches the app.
	before := app.hits.Load()
	for _, c := range []struct {
		name string
		try  func() (int, http.Header, string, error)
	}{
		{"plaintext client", func() (int, http.Header, string, error) { return plainExchange(inbound) }},
		{"TLS client without a certificate", func() (int, http.Header, string, error) {
			return tlsExchange(inbound, &tls.Config{InsecureSkipVerify: true})
		}},
		{"TLS client with a self-signed certificate claiming web's SPIFFE ID", func() (int, http.Header, string, error) {
			return tlsExchange(inbound, selfSignedTLS(t, spiffeOf(td, "web")))
		}},
	} {
		status, _, body, err := c.try()
		if err == nil {
			t.Errorf("%s got an answer from the mTLS inbound: %d %q", c.name, status, body)
		} else {
			t.Logf("%s: refused (%v)", c.name, err)
		}
	}
	if n := app.hits.Load() - before; n != 0 {
		t.Fatalf("the app saw %d requests from clients without a mesh identity", n)
	}
	// The same exchange with web's leaf from the agent goes through, and
	// payments presents its own identity: the refusals above were about
	// the client's certificate.
	if status, _, body, err := tlsExchange(inbound, leafTLS(t, consul, "web", "payments")); err != nil || status != 200 || body != "payments HTTP/1.1" {
		t.Fatalf("TLS client with web's leaf: %d %q %v", status, body, err)
	}

	// Registration: the app at its own port, the sidecar as its
	// connect-proxy at the inbound port.
	_, inPort, _ := net.SplitHostPort(inbound)
	proxies, _, err := consul.Client().Catalog().Service("payments-sidecar-proxy", "", nil)
	if err != nil || len(proxies) != 1 {
		t.Fatalf("catalog payments-sidecar-proxy: %v %v", proxies, err)
	}
	px := consul.mustService(proxies[0].ServiceID) // the catalog entry has no Kind; the agent's has
	if px.Kind != api.ServiceKindConnectProxy || px.Proxy == nil || px.Proxy.DestinationServiceName != "payments" ||
		strconv.Itoa(px.Port) != inPort || proxies[0].ServiceID != "payments-1-sidecar-proxy" {
		t.Fatalf("payments-sidecar-proxy: id %q kind %q port %d proxy %+v, want connect-proxy payments-1-sidecar-proxy for payments on %s",
			proxies[0].ServiceID, px.Kind, px.Port, px.Proxy, inPort)
	}
	if svc := consul.mustService("payments-1"); svc.Port != app.ln.Addr().(*net.TCPAddr).Port || svc.Kind != "" {
		t.Fatalf("payments-1 registered as %+v, want the app at %s", svc, app.addr())
	}

	// SIGTERM with a request in flight: both registrations go before it
	// finishes, and it finishes.
	done := make(chan string, 1)
	go func() {
		status, _, body := getBodyNoFail(web.url("payments", "/hold"))
		done <- fmt.Sprint(status, " ", body)
	}()
	waitFor(t, 5*time.Second, func() bool { return app.active.Load() == 1 }, "the held request to reach the app")
	if err := payments.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		svcs, err := consul.Client().Agent().Services()
		return err == nil && svcs["payments-1"] == nil && svcs["payments-1-sidecar-proxy"] == nil
	}, "payments-1 and payments-1-sidecar-proxy to be deregistered")
	if app.active.Load() != 1 {
		t.Fatal("the held request finished before deregistration was checked")
	}
	app.unhold()
	if got := <-done; got != "200 payments HTTP/1.1" {
		t.Fatalf("the request in flight during the drain: %s", got)
	}
	select {
	case <-payments.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("payments did not exit after its drain")
	}
	if code := payments.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("payments exit code %d", code)
	}
}

// Outrigger → Consul's built-in proxy → app: the built-in proxy fronts
// payments and registers itself (-register: payments-proxy, Kind
// connect-proxy); web's upstreams find it through
// /v1/health/connect/payments and reach the app over mTLS in HTTP/1.1,
// HTTP/2 (h2 over the mesh TLS, h2c at the app) and TCP.
func TestConnectOutriggerToBuiltinProxy(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	public := fmt.Sprintf("127.0.0.1:%d", consultest.FreePorts(t, 1)[0])
	startBuiltinProxy(t, consul, "-service", "payments", "-service-addr", app.addr(), "-listen", public, "-register")
	waitConnectHealth(t, consul, "payments", public, 20*time.Second)

	web := startSidecar(t, meshClientYAML(consul.Addr(), "web",
		meshUpstream("payments", "", "http"),
		meshUpstream("payments-h2", "payments", "http2"),
		meshUpstream("payments-tcp", "payments", "tcp")))
	waitConnect(t, web, 20*time.Second)
	for _, u := range []string{"payments", "payments-h2", "payments-tcp"} {
		waitEndpoints(t, web, u, 20*time.Second, public)
	}
	// The built-in proxy serves its public listener once it has its own
	// leaf; until then a handshake fails.
	waitFor(t, 20*time.Second, func() bool {
		status, _, body := getBodyNoFail(web.url("payments", "/"))
		return status == 200 && body == "payments HTTP/1.1"
	}, "a request through the built-in proxy to succeed")

	got, bad := drive(t, web.url("payments", "/"), 30, 3)
	if len(bad) > 0 || got["payments HTTP/1.1"] != 30 {
		t.Fatalf("HTTP/1.1 through the built-in proxy: %v, failures %v", got, bad)
	}
	h2 := h2cClient(t)
	for i := range 10 {
		status, hdr, body, err := getVia(h2, "http://"+web.listen["payments-h2"]+"/h2")
		if err != nil || status != 200 || body != "payments HTTP/2.0" {
			t.Fatalf("HTTP/2 request %d through the built-in proxy: %d %q %v (X-Outrigger-Error %q)", i, status, body, err, hdr.Get("X-Outrigger-Error"))
		}
	}
	fresh := freshClient(t)
	for i := range 5 {
		status, _, body, err := getVia(fresh, "http://"+web.listen["payments-tcp"]+"/tcp")
		if err != nil || status != 200 || body != "payments HTTP/1.1" {
			t.Fatalf("TCP connection %d through the built-in proxy: %d %q %v", i, status, body, err)
		}
	}
}

// Consul's built-in proxy → Outrigger inbound → app: a built-in proxy for
// web with an upstream payments finds Outrigger's connect-proxy
// registration, checks its identity, presents web's leaf, and a plain GET
// to its local port reaches the app. Outrigger names the source from the
// built-in proxy's certificate: a deny web → payments answers 403.
func TestConnectBuiltinProxyToOutrigger(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	payments := startSidecar(t, meshServerYAML("payments", "payments-1", app.port(), consul.Addr(), true))
	waitConnect(t, payments, 20*time.Second)
	waitConnectHealth(t, consul, "payments", payments.listen["inbound"], 20*time.Second)

	local := fmt.Sprintf("127.0.0.1:%d", consultest.FreePorts(t, 1)[0])
	startBuiltinProxy(t, consul, "-service", "web", "-upstream", "payments:"+local)
	fresh := freshClient(t) // every request a new connection: a new mTLS handshake at Outrigger
	waitFor(t, 20*time.Second, func() bool {
		status, _, body, err := getVia(fresh, "http://"+local+"/")
		return err == nil && status == 200 && body == "payments HTTP/1.1"
	}, "a GET to the built-in proxy's upstream port to reach the app")
	before := app.hits.Load()
	for i := range 20 {
		status, _, body, err := getVia(fresh, "http://"+local+"/again")
		if err != nil || status != 200 || body != "payments HTTP/1.1" {
			t.Fatalf("request %d through the built-in proxy and Outrigger: %d %q %v", i, status, body, err)
		}
	}
	if n := app.hits.Load() - before; n != 20 {
		t.Fatalf("the app saw %d of 20 requests", n)
	}

	denyWebToPayments(t, consul)
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, hdr, _, err := getVia(fresh, "http://"+local+"/denied")
		if err == nil && status == 403 && hdr.Get("X-Outrigger-Error") == "forbidden" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 s after denying web → payments, a request from the built-in proxy got %d %q %v", status, hdr.Get("X-Outrigger-Error"), err)
		}
	}
	waitForMetrics(t, payments.admin, []string{`outrigger_connect_denied_total{source="web"}`}, "outrigger_connect_denied_total")
}

// denyWebToPayments writes a service-intentions config entry denying web
// → payments.
func denyWebToPayments(t *testing.T, consul *consulAgent) {
	t.Helper()
	_, _, err := consul.Client().ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{
		Kind: api.ServiceIntentions, Name: "payments",
		Sources: []*api.SourceIntention{{Name: "web", Action: api.IntentionActionDeny}},
	}, nil)
	if err != nil {
		t.Fatalf("deny web → payments: %v", err)
	}
}

// An intention denying web → payments turns web's requests into 403
// forbidden within 2 s, with none reaching the app, counted per source at
// payments; deleting it lets them through again within 2 s. No restart.
func TestConnectIntentionDenyAndAllowLive(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	payments, web := startMeshPair(t, consul, app, meshUpstream("payments", "", "http"))
	url := web.url("payments", "/")
	if status, _, body := getBody(t, url); status != 200 || body != "payments HTTP/1.1" {
		t.Fatalf("before any intention: %d %q", status, body)
	}
	denied := `outrigger_connect_denied_total{source="web"}`
	if v := metricValue(t, payments.admin, denied); v != 0 {
		t.Fatalf("%s = %v before any denial", denied, v)
	}

	denyWebToPayments(t, consul)
	start := time.Now()
	waitFor(t, 2*time.Second, func() bool {
		status, hdr, _ := getBodyNoFail(url)
		return status == 403 && hdr.Get("X-Outrigger-Error") == "forbidden"
	}, "web's requests to be denied (403 forbidden) after the deny intention")
	t.Logf("deny in force after %v", time.Since(start).Round(time.Millisecond))
	hits := app.hits.Load()
	for i := range 20 {
		status, hdr, body := getBody(t, url)
		if status != 403 || hdr.Get("X-Outrigger-Error") != "forbidden" {
			t.Fatalf("denied request %d: %d %q %q", i, status, hdr.Get("X-Outrigger-Error"), body)
		}
	}
	if n := app.hits.Load() - hits; n != 0 {
		t.Fatalf("the app saw %d requests while web → payments was denied", n)
	}
	if v := metricValue(t, payments.admin, denied); v < 21 {
		t.Fatalf("%s = %v after at least 21 denied requests", denied, v)
	}
	// Every local reply is counted; the inbound listener's under its name.
	if v := metricValue(t, payments.admin, `outrigger_local_replies_total{reason="forbidden",upstream="inbound"}`); v < 21 {
		t.Fatalf("local replies forbidden on inbound = %v after at least 21 denied requests", v)
	}

	if _, err := consul.Client().ConfigEntries().Delete(api.ServiceIntentions, "payments", nil); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, 2*time.Second, func() bool {
		status, _, body := getBodyNoFail(url)
		return status == 200 && body == "payments HTTP/1.1"
	}, "web's requests to succeed again after the intention was deleted")
	t.Logf("allow in force after %v", time.Since(start).Round(time.Millisecond))
	got, bad := drive(t, url, 20, 2)
	if len(bad) > 0 || got["payments HTTP/1.1"] != 20 {
		t.Fatalf("after the deletion: %v, failures %v", got, bad)
	}
}

// An endpoint presenting another service's identity is refused: web's
// upstream payments, pointed (static endpoints) at an Outrigger whose
// leaf is billing's, answers 502 connect_failure in HTTP/1.1 and HTTP/2,
// a TCP connection is closed, and billing's app sees nothing. The same
// endpoint as web's upstream billing works.
func TestConnectWrongIdentityRefused(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	billingApp := newMeshApp(t, "billing")
	billing := startSidecar(t, meshServerYAML("billing", "billing-1", billingApp.port(), consul.Addr(), false))
	mesh := billing.listen["inbound"]
	// A TLS server claiming payments' SPIFFE ID with a certificate from no
	// Consul CA: a forged identity.
	td, _, _ := meshRoots(t, consul)
	var forgedHits atomic.Int64
	forged := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forgedHits.Add(1)
		io.WriteString(w, "forged")
	}))
	forged.TLS = selfSignedTLS(t, spiffeOf(td, "payments"))
	forged.TLS.ClientAuth = tls.RequestClientCert
	forged.StartTLS()
	t.Cleanup(forged.Close)
	web := startSidecar(t, meshClientYAML(consul.Addr(), "web",
		meshUpstream("payments-forged", "payments", "http", forged.Listener.Addr().String()),
		meshUpstream("billing", "", "http", mesh),
		meshUpstream("payments", "", "http", mesh),
		meshUpstream("payments-h2", "payments", "http2", mesh),
		meshUpstream("payments-tcp", "payments", "tcp", mesh)))
	waitConnect(t, billing, 20*time.Second)
	waitConnect(t, web, 20*time.Second)
	waitReady(t, web, 10*time.Second)

	if status, _, body := getBody(t, web.url("billing", "/")); status != 200 || body != "billing HTTP/1.1" {
		t.Fatalf("web → billing (the right identity): %d %q", status, body)
	}
	hits := billingApp.hits.Load()
	for i := range 3 {
		status, hdr, body := getBody(t, web.url("payments", "/"))
		if status != 502 || hdr.Get("X-Outrigger-Error") != "connect_failure" {
			t.Fatalf("request %d to payments at billing's endpoint: %d %q %q, want 502 connect_failure", i, status, hdr.Get("X-Outrigger-Error"), body)
		}
	}
	h2 := h2cClient(t)
	status, hdr, body, err := getVia(h2, "http://"+web.listen["payments-h2"]+"/")
	if err != nil || status != 502 || hdr.Get("X-Outrigger-Error") != "connect_failure" {
		t.Fatalf("HTTP/2 to payments at billing's endpoint: %d %q %q %v, want 502 connect_failure", status, hdr.Get("X-Outrigger-Error"), body, err)
	}
	if status, _, body, err := plainExchange(web.listen["payments-tcp"]); err == nil {
		t.Fatalf("TCP to payments at billing's endpoint got an answer: %d %q", status, body)
	}
	if n := billingApp.hits.Load() - hits; n != 0 {
		t.Fatalf("billing's app saw %d requests meant for payments", n)
	}
	status, hdr, body = getBody(t, web.url("payments-forged", "/"))
	if status != 502 || hdr.Get("X-Outrigger-Error") != "connect_failure" || forgedHits.Load() != 0 {
		t.Fatalf("payments at a server with a forged payments certificate: %d %q %q (the server saw %d requests), want 502 connect_failure",
			status, hdr.Get("X-Outrigger-Error"), body, forgedHits.Load())
	}
}

// A CA rotation under a steady 100 req/s (keep-alive HTTP) and 20 new
// connections a second (TCP, each a new handshake) loses no request: the
// new root is trusted at once, the leaves are re-issued from it (the agent
// spreads that over up to 30 s) and both sidecars move to them.
func TestConnectCARotationUnderLoad(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	payments, web := startMeshPair(t, consul, app,
		meshUpstream("payments", "", "http"),
		meshUpstream("payments-tcp", "payments", "tcp"))
	_, before := payments.connectInfo()
	_, webBefore := web.connectInfo()

	const within = 50 * time.Second
	load := startMeshLoad(t, web.url("payments", "/"), 100, 100*50, within, true)
	handshakes := startMeshLoad(t, "http://"+web.listen["payments-tcp"]+"/", 20, 20*50, within, false)
	waitFor(t, 5*time.Second, func() bool { _, ok, _ := load.counts(); return ok >= 50 }, "the load to run")

	rotateCA(t, consul)
	rotated := time.Now()
	_, _, nRoots := meshRoots(t, consul)
	if nRoots < 2 {
		t.Fatalf("after the rotation the agent lists %d roots", nRoots)
	}
	waitFor(t, 45*time.Second, func() bool {
		_, p := payments.connectInfo()
		_, w := web.connectInfo()
		return p.Leaf.Serial != "" && p.Leaf.Serial != before.Leaf.Serial && p.Roots == nRoots &&
			w.Leaf.Serial != "" && w.Leaf.Serial != webBefore.Leaf.Serial && w.Roots == nRoots
	}, "both sidecars to use leaves from the new root")
	t.Logf("both leaves rotated %v after the CA rotation", time.Since(rotated).Round(time.Millisecond))
	// A little more load on the new leaves only.
	sent, _, _ := load.counts()
	hsent, _, _ := handshakes.counts()
	waitFor(t, 10*time.Second, func() bool {
		s, _, _ := load.counts()
		h, _, _ := handshakes.counts()
		return s >= sent+100 && h >= hsent+20
	}, "the load to go on with the new leaves")

	for _, l := range []struct {
		name string
		l    *meshLoad
	}{{"keep-alive HTTP", load}, {"new TCP connections", handshakes}} {
		sent, ok, failures := l.l.finish()
		if len(failures) > 0 || ok != sent {
			t.Errorf("%s: %d sent, %d ok, failures (the rotation was at %v):\n%s", l.name, sent, ok,
				rotated.Sub(l.l.start).Round(time.Millisecond), strings.Join(failures, "\n"))
		}
	}
	// One log line per rotation: the leaf's with its new serial, and the
	// roots'.
	for _, p := range []*sidecarProc{payments, web} {
		_, v := p.connectInfo()
		leaves := p.logLines("connect leaf certificate rotated")
		if len(leaves) != 1 || leaves[0]["serial"] != v.Leaf.Serial {
			t.Errorf("%s logged %d leaf rotations %v, want one with serial %s", v.Service, len(leaves), leaves, v.Leaf.Serial)
		}
		if roots := p.logLines("connect CA roots changed"); len(roots) == 0 {
			t.Errorf("%s logged no roots change", v.Service)
		}
	}
	if t.Failed() {
		return
	}
	status, _, body, err := getVia(freshClient(t), web.url("payments", "/after"))
	if err != nil || status != 200 || body != "payments HTTP/1.1" {
		t.Fatalf("after the rotation: %d %q %v", status, body, err)
	}
}

// Consul stopped (SIGSTOP: connections hang, nothing answers) for 10 s
// changes nothing for traffic: 100 req/s keep-alive HTTP and new mTLS
// connections every 100 ms all succeed, /ready and /connect stay 200 on
// both sidecars; afterwards everything still works.
func TestConnectConsulStoppedChangesNothing(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	agent := consul.Process()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			agent.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	consulOutage(t, consul, consul.Addr(), func() {
		if err := agent.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}, resume, false)
}

// The same with Consul refusing connections for 10 s (every open query
// cut, the port closed) while the agent itself runs on: the watches fail
// and back off, the last leaf, roots, verdicts and endpoints stay in use.
func TestConnectConsulRefusingChangesNothing(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	proxy := newCuttableProxy(t, consul.Addr())
	consulOutage(t, consul, proxy.addr, proxy.cutOff, proxy.restore, true)
}

// consulOutage runs the two sidecars against Consul at consulAddr under
// load, calls stop, keeps the load and probes going for 10 s, calls
// resume and checks that nothing failed. With sawErrors, web's discovery
// must have counted errors (the outage was seen, not slept through).
func consulOutage(t *testing.T, consul *consulAgent, consulAddr string, stop, resume func(), sawErrors bool) {
	t.Helper()
	app := newMeshApp(t, "payments")
	payments, web := startMeshPairVia(t, consulAddr, app,
		meshUpstream("payments", "", "http"),
		meshUpstream("payments-tcp", "payments", "tcp"))

	load := startMeshLoad(t, web.url("payments", "/"), 100, 100*20, 20*time.Second, true)
	handshakes := startMeshLoad(t, "http://"+web.listen["payments-tcp"]+"/", 10, 10*20, 20*time.Second, false)
	waitFor(t, 5*time.Second, func() bool { _, ok, _ := load.counts(); return ok >= 50 }, "the load to run")

	stop()
	quick := &http.Client{Timeout: 300 * time.Millisecond}
	waitFor(t, 3*time.Second, func() bool { // a stop signal takes effect asynchronously
		resp, err := quick.Get("http://" + consulAddr + "/v1/status/leader")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	}, "Consul to stop answering at "+consulAddr)
	sentAtStop, _, _ := load.counts()
	hsAtStop, _, _ := handshakes.counts()
	var probeFailures []string
	outage := time.After(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for probing := true; probing; {
		select {
		case <-outage:
			probing = false
		case <-tick.C:
			for _, p := range []*sidecarProc{payments, web} {
				if status, _, body := getBodyNoFail("http://" + p.admin + "/ready"); status != 200 {
					probeFailures = append(probeFailures, fmt.Sprintf("%s /ready: %d %q", p.configFile, status, body))
				}
				if status, _ := p.connectInfo(); status != 200 {
					probeFailures = append(probeFailures, fmt.Sprintf("%s /connect: %d", p.configFile, status))
				}
			}
		}
	}
	sentInOutage, _, _ := load.counts()
	hsInOutage, _, _ := handshakes.counts()
	errorsSeen := metricValue(t, web.admin, `outrigger_discovery_errors_total{upstream="payments"}`)
	resume()
	if len(probeFailures) > 0 {
		t.Errorf("while Consul was unreachable:\n%s", strings.Join(probeFailures, "\n"))
	}
	if n, h := sentInOutage-sentAtStop, hsInOutage-hsAtStop; n < 500 || h < 50 {
		t.Errorf("only %d requests and %d new connections were sent during the 10 s outage", n, h)
	}
	if sawErrors && errorsSeen == 0 {
		t.Errorf("web counted no discovery error while Consul refused connections")
	}
	for _, l := range []struct {
		name string
		l    *meshLoad
	}{{"keep-alive HTTP", load}, {"new TCP connections", handshakes}} {
		sent, ok, failures := l.l.finish()
		if len(failures) > 0 || ok != sent {
			t.Errorf("%s: %d sent, %d ok, failures:\n%s", l.name, sent, ok, strings.Join(failures, "\n"))
		}
	}
	if t.Failed() {
		return
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := consul.Client().Status().Leader()
		return err == nil
	}, "the agent to answer again")
	got, bad := drive(t, web.url("payments", "/after"), 20, 2)
	if len(bad) > 0 || got["payments HTTP/1.1"] != 20 {
		t.Fatalf("after Consul came back: %v, failures %v", got, bad)
	}
	// The watches follow Consul again: an intention written now applies
	// (after the watch's back-off: its next try may come up to ~14 s after
	// a 10 s refusal), and its
	// removal within 2 s.
	denyWebToPayments(t, consul)
	start := time.Now()
	waitFor(t, 25*time.Second, func() bool {
		status, hdr, _ := getBodyNoFail(web.url("payments", "/"))
		return status == 403 && hdr.Get("X-Outrigger-Error") == "forbidden"
	}, "a deny written after the outage to apply")
	t.Logf("after the outage, a deny applied in %v", time.Since(start).Round(time.Millisecond))
	if _, err := consul.Client().ConfigEntries().Delete(api.ServiceIntentions, "payments", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() bool {
		status, _, _ := getBodyNoFail(web.url("payments", "/"))
		return status == 200
	}, "the intention's removal to apply")
}

// /ready and GET /connect wait for the identity: 503 (naming connect)
// while the agent has not answered, 200 once it has. Without connect,
// GET /connect is 404.
func TestConnectReadyWaitsForIdentity(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	gated := newGatedConsul(t, consul.Addr())
	p := startSidecar(t, meshClientYAML(gated.addr, "web", meshUpstream("payments", "", "http", closedAddr(t))))
	if status, _, body := getBody(t, "http://"+p.admin+"/ready"); status != 503 || !strings.Contains(body, "connect") {
		t.Fatalf("/ready before the identity: %d %q, want 503 naming connect", status, body)
	}
	if status, _ := p.connectInfo(); status != 503 {
		t.Fatalf("GET /connect before the identity: %d, want 503", status)
	}
	gated.open()
	v := waitConnect(t, p, 20*time.Second)
	if v.Service != "web" || v.Leaf.Serial == "" {
		t.Fatalf("GET /connect: %+v", v)
	}
	waitReady(t, p, 10*time.Second)

	plain := startSidecar(t, upstreamYAML("round_robin", "5s", closedAddr(t)))
	if status, _ := plain.connectInfo(); status != 404 {
		t.Fatalf("GET /connect without connect: %d, want 404", status)
	}
}

// The connect-proxy registration carries the application's tags and meta
// (a peer's tags filter finds it) and an alias of the application's
// check: while the app's check is critical the proxy leaves
// /v1/health/connect/payments?passing and web has no endpoint; it comes
// back with the app.
func TestConnectProxyRegistrationFollowsApp(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	logConsulOnFailure(t, consul)
	app := newMeshApp(t, "payments")
	health := newSwitchable(t, "health")
	payments := startSidecar(t, fmt.Sprintf(`service:
  name: payments
  id: payments-1
  address: 127.0.0.1
  port: %s
  tags: [blue]
  meta: {version: "2"}
  register: true
  check: {http: "%s/health", interval: 1s, timeout: 1s}
inbound:
  listen: 127.0.0.1:0
connect:
  enabled: true
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
consul:
  address: %s
upstreams: []
`, app.port(), health.srv.URL, consul.Addr()))
	inbound := payments.listen["inbound"]
	web := startSidecar(t, meshClientYAML(consul.Addr(), "web",
		meshUpstream("payments", "", "http")+"    tags: [blue]\n"))
	waitEndpoints(t, web, "payments", 20*time.Second, inbound)
	px := consul.mustService("payments-1-sidecar-proxy")
	if len(px.Tags) != 1 || px.Tags[0] != "blue" || px.Meta["version"] != "2" {
		t.Fatalf("the connect-proxy's tags %v meta %v, want the app's", px.Tags, px.Meta)
	}
	if status, _, body := getBody(t, web.url("payments", "/")); status != 200 || body != "payments HTTP/1.1" {
		t.Fatalf("through the tagged upstream: %d %q", status, body)
	}

	health.status.Store(500) // the app's own check goes critical
	waitFor(t, 15*time.Second, func() bool {
		entries, _, err := consul.Client().Health().Connect("payments", "", true, nil)
		return err == nil && len(entries) == 0
	}, "the proxy to leave /v1/health/connect/payments?passing while the app is critical")
	waitEndpoints(t, web, "payments", 10*time.Second)

	health.status.Store(0)
	waitConnectHealth(t, consul, "payments", inbound, 15*time.Second)
	waitEndpoints(t, web, "payments", 10*time.Second, inbound)
	if status, _, body := getBody(t, web.url("payments", "/")); status != 200 || body != "payments HTTP/1.1" {
		t.Fatalf("after the app recovered: %d %q", status, body)
	}
}
