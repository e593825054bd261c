package discovery

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The watch against a real `consul agent -dev` from <repo>/bin/consul (the
// scripted client above cannot show what a real agent answers for weights
// and warning checks). Like the other Consul tests it fails, never skips,
// without the binary: `make tools` builds it.

type agentLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *agentLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *agentLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAgent starts a dev agent on free loopback ports, waits for a leader
// and returns a client for it; the cleanup kills the agent.
func startAgent(t *testing.T) *api.Client {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("cannot find the module root (go.mod) above the test's directory")
		}
		dir = filepath.Dir(dir)
	}
	bin := filepath.Join(dir, "bin", "consul")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make tools` (or `make test`, which builds it) first", bin)
	}
	var ports [4]int // http, serf lan, serf wan, server
	lns := make([]net.Listener, len(ports))
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], ports[i] = ln, ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	out := &agentLog{}
	cmd := exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", fmt.Sprint(ports[0]), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", fmt.Sprint(ports[1]), "-serf-wan-port", fmt.Sprint(ports[2]),
		"-server-port", fmt.Sprint(ports[3]), "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	cfg := api.DefaultConfig()
	cfg.Address = fmt.Sprintf("127.0.0.1:%d", ports[0])
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := cl.Status().Leader()
		if err == nil && leader != "" {
			return cl
		}
		select {
		case <-done:
			t.Fatalf("consul exited during start-up:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul had no leader within 30s (%v):\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

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
	cl := startAgent(t)
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
