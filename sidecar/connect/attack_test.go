package connect

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The default-policy probe (/v1/agent/connect/authorize) runs inside the
// intentions watch's apply step, with the watch's own context: no
// per-call deadline. An agent that stops answering that one call (a
// stopped process, a connection gone without a FIN; the api client has
// no timeout) stalls the intentions watch until shutdown, so no later
// intention change ever applies — although the blocking queries
// themselves are bounded by wait + discovery.QueryGrace (docs/connect.md "While
// Consul is down": "a query that hangs … is given up after its wait plus
// 10 s").
func TestHungAuthorizeDoesNotStallIntentions(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	agent := staticAgent(ca.leaf(t, "dc1", "payments"), rootList(ca))
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	agent.authorize = func(int, *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
		<-hang // the agent never answers this call
		return nil, nil
	}
	agent.intentions = newScript(
		// allow * : no probe needed, the sidecar becomes ready
		answer[map[string][]*api.Intention]{index: 1, val: forPayments(ixn("*", api.IntentionActionAllow))},
		// the wildcard is deleted: the default decides, the probe hangs
		answer[map[string][]*api.Intention]{index: 2, val: forPayments()},
		// an operator then writes deny * (or Consul is asked again)
		answer[map[string][]*api.Intention]{index: 3, val: forPayments(ixn("*", api.IntentionActionDeny))},
	)
	m := New(agent, agent, Options{Service: "payments", WaitTime: time.Second, Now: func() time.Time { return testNow }})
	run(t, m)
	waitReady(t, m)
	// With the call bounded like the queries (wait + 10 s), the watch
	// gives the probe up, asks again and applies deny *.
	deadline := time.Now().Add(20 * time.Second)
	for m.Allowed("web") {
		if time.Now().After(deadline) {
			t.Fatalf("the intentions watch is stuck in a hung authorize call: index 3 (deny *) never applied; authorize calls %d, match calls %d",
				len(agent.authorizeCalls()), agent.intentions.callCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SourceService decodes the whole path before splitting it into segments;
// Consul (connect.ParseCertURI) matches the raw path and unescapes each
// segment. A URI SAN that Consul does not take for a service identity
// at all must not name a source here either (defence in depth: only a CA
// that signs such a SAN can present it).
func TestSourceServiceSplitsTheRawPathLikeConsul(t *testing.T) {
	for _, raw := range []string{
		// Consul: not a service ID (no /ns/ segment in the raw path).
		"spiffe://td.consul/ap/default%2Fns%2Fdefault/dc/dc1/svc/payments",
		// Consul: namespace "default/dc/dc1/svc/x", not default.
		"spiffe://td.consul/ap/default/ns/default%2Fdc%2Fdc1%2Fsvc%2Fpayments",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		cs := tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{{URIs: []*url.URL{u}}}}
		if src, ok := SourceService(cs); ok {
			t.Errorf("SourceService(%s) = %q: Consul does not read this URI as a default-namespace service identity", raw, src)
		}
	}
}
