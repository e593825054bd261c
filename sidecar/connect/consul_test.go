package connect

import (
	"crypto/x509"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// The integration test runs a real `consul agent -dev` (Connect and its
// built-in CA are on in dev mode) from <repo>/bin/consul, started by
// consultest as sidecar/e2e does. Like the e2e tests it fails, never skips,
// without the binary: `make tools` builds it.

func TestWithConsulDevAgent(t *testing.T) {
	agent := consultest.Start(t)
	cl := agent.Client()
	for i, name := range []string{"web", "payments"} {
		err := cl.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: name + "-1", Name: name, Address: "127.0.0.1", Port: 9000 + i,
			Check: &api.AgentServiceCheck{CheckID: "check-" + name, TTL: "10m", Status: api.HealthPassing},
		})
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	logs := map[string]*logLines{}
	start := func(service string) *Manager {
		t.Helper()
		logs[service] = &logLines{}
		m := New(cl.Agent(), cl.Connect(), Options{Service: service, WaitTime: time.Minute, Logger: slog.New(logs[service])})
		run(t, m)
		select {
		case <-m.Ready():
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: not ready within 30s", service)
		}
		return m
	}
	began := time.Now()
	web, pay := start("web"), start("payments")
	t.Logf("both identities ready in %v", time.Since(began).Round(time.Millisecond))

	roots, _, err := cl.Agent().ConnectCARoots(nil)
	if err != nil {
		t.Fatal(err)
	}
	id := pay.Identity()
	if id.TrustDomain != roots.TrustDomain || id.Datacenter != "dc1" || id.SpiffeID != ServiceSpiffeID(roots.TrustDomain, "dc1", "payments") ||
		id.RootCount != 1 || id.ActiveRootID != roots.ActiveRootID || time.Until(id.NotAfter) < time.Hour {
		t.Fatalf("payments identity %+v; roots %s %s", id, roots.TrustDomain, roots.ActiveRootID)
	}
	t.Logf("payments: %s serial %s not_after %s", id.SpiffeID, id.Serial, id.NotAfter.Format(time.RFC3339))

	// A real mTLS handshake between the two identities.
	srv := serveTLS(t, pay.ServerTLS([]string{"h2"}))
	handshake := func(what string) {
		t.Helper()
		c, _, err := dial(t, srv.addr, web.ClientTLS("payments", "", []string{"h2"}))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r := srv.next(t)
		if src, ok := SourceService(r.state); r.err != nil || !ok || src != "web" {
			t.Fatalf("%s: server error %v, source %q", what, r.err, src)
		}
		if got, want := peerSerial(c.ConnectionState()), pay.Identity().Serial; got != want {
			t.Fatalf("%s: server presented %s, want the current %s", what, got, want)
		}
		if c.ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatalf("%s: ALPN %q", what, c.ConnectionState().NegotiatedProtocol)
		}
	}
	handshake("first handshake")
	if _, _, err := dial(t, srv.addr, web.ClientTLS("billing", "", nil)); err == nil || !strings.Contains(err.Error(), "/svc/billing, got") {
		t.Fatalf("dialing payments as billing: %v", err)
	}
	srv.next(t)

	// Intentions: a deny applies within 2 s, and so does its removal.
	if !pay.Allowed("web") || !pay.Allowed("billing") {
		t.Fatal("a dev agent (no ACLs) allows by default")
	}
	within := func(what string, cond func() bool) {
		t.Helper()
		began := time.Now()
		eventually(t, 2*time.Second, what, cond)
		t.Logf("%s: %v", what, time.Since(began).Round(time.Millisecond))
	}
	upsert := func(source string, action api.IntentionAction) {
		t.Helper()
		if _, err := cl.Connect().IntentionUpsert(&api.Intention{SourceName: source, DestinationName: "payments", Action: action}, nil); err != nil {
			t.Fatalf("intention %s => payments: %v", source, err)
		}
	}
	remove := func(source string) {
		t.Helper()
		if _, err := cl.Connect().IntentionDeleteExact(source, "payments", nil); err != nil {
			t.Fatalf("delete %s => payments: %v", source, err)
		}
	}
	upsert("web", api.IntentionActionDeny)
	within("deny web => payments", func() bool { return !pay.Allowed("web") })
	if !pay.Allowed("billing") {
		t.Fatal("billing denied by web's intention")
	}
	remove("web")
	within("remove web => payments", func() bool { return pay.Allowed("web") })
	upsert("*", api.IntentionActionDeny)
	upsert("web", api.IntentionActionAllow)
	within("deny * => payments, allow web", func() bool { return !pay.Allowed("billing") && pay.Allowed("web") })
	remove("*")
	remove("web")
	within("remove both", func() bool { return pay.Allowed("billing") && pay.Allowed("web") })

	// A CA rotation: a new private key for the built-in provider.
	before, webBefore := pay.Identity(), web.Identity()
	conf, _, err := cl.Connect().CAGetConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	conf.Config["PrivateKey"] = pemOf("EC PRIVATE KEY", keyDER)
	began = time.Now()
	if _, err := cl.Connect().CASetConfig(&api.CAConfig{Provider: "consul", Config: conf.Config}, nil); err != nil {
		t.Fatalf("rotate the CA: %v", err)
	}
	eventually(t, 10*time.Second, "the new roots", func() bool { return pay.Identity().ActiveRootID != before.ActiveRootID })
	t.Logf("CA rotation: new roots seen after %v (%d roots)", time.Since(began).Round(time.Millisecond), pay.Identity().RootCount)
	handshake("handshake with the new roots and the old leaves")
	eventually(t, 60*time.Second, "both leaves re-signed", func() bool {
		return pay.Identity().Serial != before.Serial && web.Identity().Serial != webBefore.Serial
	})
	after := pay.Identity()
	t.Logf("CA rotation: both leaves re-signed after %v; payments serial %s -> %s, chain of %d certificates",
		time.Since(began).Round(time.Millisecond), before.Serial, after.Serial, len(after.Leaf.Certificate))
	if after.RootCount != 2 {
		t.Fatalf("%d roots after the rotation, want the new and the old", after.RootCount)
	}
	handshake("handshake with the new leaves")
	if n := logs["payments"].count("connect leaf certificate rotated"); n != 1 {
		t.Fatalf("%d leaf-rotated lines, want 1", n)
	}
	if n := logs["payments"].count("connect CA roots changed"); n != 1 {
		t.Fatalf("%d roots-changed lines, want 1", n)
	}

	// Consul stopped: the last identity and verdicts stay in force.
	upsert("web", api.IntentionActionDeny)
	within("deny web => payments before the outage", func() bool { return !pay.Allowed("web") })
	last := pay.Identity()
	agent.Stop() // an outage, as far as the Managers can tell
	eventually(t, 10*time.Second, "the watches notice the outage", func() bool {
		return logs["payments"].count("consul connect query failed; keeping the last known state") == 3
	})
	if pay.Identity() != last || pay.Allowed("web") || !pay.Allowed("billing") {
		t.Fatal("the identity or the verdicts changed while Consul was down")
	}
	c, _, err := dial(t, srv.addr, web.ClientTLS("payments", "", nil))
	if err != nil || srv.next(t).err != nil {
		t.Fatalf("handshake while Consul is down: %v", err)
	}
	c.Close()
}
