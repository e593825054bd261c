package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// consulBinary is <repo>/bin/consul, built by `make tools` (make test
// builds it first).
func consulBinary(t *testing.T) string { return toolBinary(t, "consul") }

// toolBinary is <repo>/bin/<name>, one of the real peers `make tools`
// builds. The tests need the real thing: they fail, never skip, without it.
func toolBinary(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the module root (go.mod) above the test's directory")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make tools` (or `make test`, which builds it) first", bin)
	}
	return bin
}

// consulAgent is a real `consul agent -dev` on loopback ports chosen here.
type consulAgent struct {
	t     *testing.T
	bin   string
	ports [4]int // http, serf lan, serf wan, server
	cmd   *exec.Cmd
	done  chan struct{}
	log   *logBuffer

	clientOnce sync.Once
	cl         *api.Client
	clErr      error
}

func (c *consulAgent) addr() string { return fmt.Sprintf("127.0.0.1:%d", c.ports[0]) }

// client is the test's one API client for the agent. One, not one per
// call: every api.Client has its own connection pool, and a poll that made
// a client each time left hundreds of idle connections until the agent's
// limit of 200 per client address answered 429 to everything — the cause
// of TestRegistrationAndDeregistrationBeforeDrain timing out under load.
func (c *consulAgent) client() *api.Client {
	c.clientOnce.Do(func() {
		cfg := api.DefaultConfig()
		cfg.Address = c.addr()
		c.cl, c.clErr = api.NewClient(cfg)
	})
	if c.clErr != nil {
		c.t.Fatal(c.clErr)
	}
	return c.cl
}

// freePorts reserves n loopback ports by binding :0, and releases them for
// the agent to take.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	lns := make([]net.Listener, n)
	ports := make([]int, n)
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
	return ports
}

// startConsul starts a dev agent and waits for it to have a leader.
func startConsul(t *testing.T) *consulAgent {
	t.Helper()
	c := &consulAgent{t: t, bin: consulBinary(t)}
	copy(c.ports[:], freePorts(t, 4))
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *consulAgent) start() {
	c.t.Helper()
	c.log = &logBuffer{}
	c.cmd = exec.Command(c.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", fmt.Sprint(c.ports[0]), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", fmt.Sprint(c.ports[1]), "-serf-wan-port", fmt.Sprint(c.ports[2]),
		"-server-port", fmt.Sprint(c.ports[3]), "-log-level", "warn")
	c.cmd.Stdout, c.cmd.Stderr = logWriter{c.log}, logWriter{c.log}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.done = make(chan struct{})
	go func() { c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := c.client().Status().Leader()
		if err == nil && leader != "" {
			return
		}
		select {
		case <-c.done:
			c.t.Fatalf("consul exited during start-up:\n%s", c.log)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("consul had no leader within 30s (%v):\n%s", err, c.log)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// stop kills the agent (an outage, as far as the sidecar can tell).
func (c *consulAgent) stop() {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.done:
	default:
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

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
	err := c.client().Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: service, Address: host, Port: p, Tags: tags,
		Check: &api.AgentServiceCheck{CheckID: "check-" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		c.t.Fatalf("register %s: %v", id, err)
	}
}

func (c *consulAgent) deregister(id string) {
	c.t.Helper()
	if err := c.client().Agent().ServiceDeregister(id); err != nil {
		c.t.Fatalf("deregister %s: %v", id, err)
	}
}

func (c *consulAgent) setCritical(id string) {
	c.t.Helper()
	if err := c.client().Agent().UpdateTTL("check-"+id, "failing on purpose", api.HealthCritical); err != nil {
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
	svc, _, err := c.client().Agent().Service(id, nil)
	if err != nil {
		c.t.Fatalf("service %s: %v", id, err)
	}
	return svc
}
