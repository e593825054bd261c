package discovery

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// The watch against a real `consul agent -dev` from <repo>/bin/consul (the
// scripted client above cannot show what a real agent answers for weights
// and warning checks), started by consultest. Like the other Consul tests
// it fails, never skips, without the binary: `make tools` builds it.

// register adds an instance with Consul weights and a TTL check in status.
func register(t *testing.T, cl *api.Client, reg api.AgentServiceRegistration, passing, warning int, status string) {
	t.Helper()
	reg.Weights = &api.AgentWeights{Passing: passing, Warning: warning}
	reg.Check = &api.AgentServiceCheck{CheckID: "check-" + reg.ID, TTL: "10m", Status: status}
	if err := cl.Agent().ServiceRegister(&reg); err != nil {
		t.Fatalf("register %s: %v", reg.ID, err)
	}
}

// firstSet runs a watch until it delivers a set with n instances (the
// agent may need a moment to sync the checks) and returns it.
func firstSet(t *testing.T, client HealthClient, includeWarning bool, n int) []Instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sets := make(chan []Instance, 16)
	w := NewConsul(client, ConsulOptions{Service: "payments", WaitTime: 2 * time.Second, IncludeWarning: includeWarning})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, func(set []Instance) {
			select {
			case sets <- set:
			default:
			}
		}, nil)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.After(10 * time.Second)
	var last []Instance
	for {
		select {
		case set := <-sets:
			if last = set; len(set) == n {
				return set
			}
		case <-deadline:
			t.Fatalf("no set of %d instances within 10s; last %v", n, last)
		}
	}
}

type connectClient struct{ h *api.Health }

func (c connectClient) ServiceMultipleTags(service string, tags []string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	return c.h.ConnectMultipleTags(service, tags, passingOnly, q)
}

func TestConsulWeightsAndWarningsWithAgent(t *testing.T) {
	cl := consultest.Start(t).Client()
	reg := func(id string, port int) api.AgentServiceRegistration {
		return api.AgentServiceRegistration{ID: id, Name: "payments", Address: "127.0.0.1", Port: port}
	}
	register(t, cl, reg("p-pass", 8001), 10, 1, api.HealthPassing)
	register(t, cl, reg("p-warn", 8002), 3, 7, api.HealthWarning)
	register(t, cl, reg("p-crit", 8003), 1, 1, api.HealthCritical)
	proxy := func(id string, port int) api.AgentServiceRegistration {
		return api.AgentServiceRegistration{ID: id, Name: "payments-sidecar-proxy", Kind: api.ServiceKindConnectProxy,
			Address: "127.0.0.1", Port: port, Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceName: "payments"}}
	}
	register(t, cl, proxy("px-pass", 9001), 4, 1, api.HealthPassing)
	register(t, cl, proxy("px-warn", 9002), 4, 2, api.HealthWarning)

	for _, tc := range []struct {
		name           string
		client         HealthClient
		includeWarning bool
		want           []Instance
	}{
		{"health passing", cl.Health(), false, []Instance{
			{Address: "127.0.0.1:8001", ID: "p-pass", Healthy: true, Weight: 10}}},
		{"health passing_or_warning", cl.Health(), true, []Instance{
			{Address: "127.0.0.1:8001", ID: "p-pass", Healthy: true, Weight: 10},
			{Address: "127.0.0.1:8002", ID: "p-warn", Healthy: true, Weight: 7, Warning: true}}},
		{"connect, passing", connectClient{cl.Health()}, false, []Instance{
			{Address: "127.0.0.1:9001", ID: "px-pass", Healthy: true, Weight: 4}}},
		{"connect, passing_or_warning", connectClient{cl.Health()}, true, []Instance{
			{Address: "127.0.0.1:9001", ID: "px-pass", Healthy: true, Weight: 4},
			{Address: "127.0.0.1:9002", ID: "px-warn", Healthy: true, Weight: 2, Warning: true}}},
	} {
		if got := firstSet(t, tc.client, tc.includeWarning, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}
