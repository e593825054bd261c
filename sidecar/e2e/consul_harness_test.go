package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// consulAgent is the shared dev agent (discovery/consultest: free loopback
// ports, a leader before it returns, Stop and Restart on the same ports
// for the outage tests, killed by the cleanup) with this package's
// registration helpers on top.
type consulAgent struct {
	*consultest.Agent
	t *testing.T
}

// startConsul starts a dev agent and waits for it to have a leader.
func startConsul(t *testing.T) *consulAgent {
	t.Helper()
	return &consulAgent{Agent: consultest.Start(t), t: t}
}

// logWriter feeds a child process's output to a logBuffer line by line.
type logWriter struct{ b *logBuffer }

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.b.add(l)
	}
	return len(p), nil
}

// register adds an instance of service with a TTL check that passes until
// told otherwise (setCheck), so its health changes exactly when a test says.
func (c *consulAgent) register(service, id, addr string, tags ...string) {
	c.t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	err := c.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: service, Address: host, Port: p, Tags: tags,
		Check: &api.AgentServiceCheck{CheckID: "check-" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		c.t.Fatalf("register %s: %v", id, err)
	}
}

func (c *consulAgent) deregister(id string) {
	c.t.Helper()
	if err := c.Client().Agent().ServiceDeregister(id); err != nil {
		c.t.Fatalf("deregister %s: %v", id, err)
	}
}

func (c *consulAgent) setCritical(id string) {
	c.t.Helper()
	if err := c.Client().Agent().UpdateTTL("check-"+id, "failing on purpose", api.HealthCritical); err != nil {
		c.t.Fatalf("critical %s: %v", id, err)
	}
}

// countingProxy sits in front of the agent and counts the health queries
// per service, so a test can see how often the sidecar asks Consul.
type countingProxy struct {
	addr string
	mu   sync.Mutex
	hits map[string]int
	all  atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	cp := &countingProxy{hits: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cp.all.Add(1)
		if svc, ok := strings.CutPrefix(r.URL.Path, "/v1/health/service/"); ok {
			cp.mu.Lock()
			cp.hits[svc]++
			cp.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cp.addr = ln.Addr().String()
	return cp
}

func (cp *countingProxy) count(service string) int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.hits[service]
}

// consulYAML renders a config whose upstreams are discovered in Consul.
func consulYAML(consulAddr, extra string, upstreams ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "service:\n  name: web\nadmin:\n  listen: 127.0.0.1:0\ndrain_timeout: 10s\nconsul:\n  address: %s\n%s", consulAddr, extra)
	b.WriteString("upstreams:\n")
	for _, u := range upstreams {
		b.WriteString(u)
	}
	return b.String()
}

// endpointsOf returns the addresses /upstreams lists for one upstream.
func (p *sidecarProc) endpointsOf(upstream string) []string {
	p.t.Helper()
	var out []string
	for _, u := range p.upstreams().Upstreams {
		if u.Name == upstream {
			for _, e := range u.Endpoints {
				out = append(out, e.Address)
			}
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

func (c *consulAgent) mustService(id string) *api.AgentService {
	c.t.Helper()
	svc, _, err := c.Client().Agent().Service(id, nil)
	if err != nil {
		c.t.Fatalf("service %s: %v", id, err)
	}
	return svc
}
