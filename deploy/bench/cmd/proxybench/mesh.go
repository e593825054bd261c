package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The service-mesh targets: two Outrigger sidecars in a row, "web" (whose
// upstream listener the load calls) and "payments" (whose inbound listener
// is web's one endpoint, in front of the backend), both on the proxy CPU,
// each with GOMAXPROCS=1. Between them plaintext, or Consul Connect mTLS
// with leaf certificates from a consul dev agent (started by the harness
// on the load CPU, only when a mesh target runs). Static endpoints, so
// nothing is registered: the agent only issues the identities and answers
// the intention queries (none exist: the dev agent allows by default).

func twoHopTarget(t *target, e benchEnv) error {
	_, mtls, reuse := isTwoHop(t.Base)
	if mtls && e.Consul == "" {
		return errors.New(t.ID + ": no consul agent")
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	inbound := fmt.Sprintf("127.0.0.1:%d", ports[0])
	t.Admin = fmt.Sprintf("127.0.0.1:%d", ports[1])
	payAdmin := fmt.Sprintf("127.0.0.1:%d", ports[2])
	_, backendPort, _ := strings.Cut(e.Backend, ":")

	switch {
	case !mtls && reuse:
		t.Label, t.Short = "Outrigger → Outrigger, plaintext", "2hop"
	case mtls && reuse:
		t.Label, t.Short = "Outrigger → Outrigger, mTLS", "mtls"
	case !mtls:
		t.Label, t.Short = "Outrigger → Outrigger, plaintext, a connection per request", "2hop-nr"
	default:
		t.Label, t.Short = "Outrigger → Outrigger, mTLS, a handshake per request", "mtls-nr"
	}
	consul, connectUp, connectIn, idle := "", "", "", ""
	if mtls {
		consul = fmt.Sprintf("consul:\n  address: %s        # a consul dev agent: the leaf certificates and CA roots\n", e.Consul)
		connectUp = "    connect: true                 # mTLS to payments, its SPIFFE ID checked\n"
		connectIn = "connect:\n  enabled: true                   # inbound: mTLS only, intentions checked per request\n"
	}
	if !reuse {
		idle = "    max_idle_per_endpoint: 0      # no reuse: every request opens a new connection to payments\n"
	}
	tracing := "tracing:\n  exporter: none\n"
	t.ConfigRel = t.ID + "-web.yaml"
	t.Config = fmt.Sprintf(`# Outrigger "web": the client calls its upstream listener; defaults
# (least_conn, outlier detection and circuit breaker on); the one endpoint
# is the payments sidecar's inbound listener.
service:
  name: web
%supstreams:
  - name: payments
    listen: %s
    endpoints: ["%s"]
    lb: least_conn
%s%sadmin:
  listen: %s
log:
  level: warn
drain_timeout: 2s
%s`, consul, t.Addr, inbound, connectUp, idle, t.Admin, tracing)

	p := &target{ID: t.ID + "-payments", Label: "payments sidecar of " + t.Label, Short: t.Short,
		Addr: inbound, Admin: payAdmin, LogPath: filepath.Join(e.WorkDir, t.ID+"-payments.log"),
		ConfigRel: t.ID + "-payments.yaml"}
	p.Config = fmt.Sprintf(`# Outrigger "payments": its inbound listener forwards to the backend.
service:
  name: payments
  address: 127.0.0.1
  port: %s
inbound:
  listen: %s
%s%sadmin:
  listen: %s
log:
  level: warn
drain_timeout: 2s
%supstreams: []
`, backendPort, inbound, connectIn, consul, payAdmin, tracing)

	pin := []string{"taskset", "-c", e.ProxyCPU}
	for _, x := range []*target{t, p} {
		if err := os.WriteFile(filepath.Join(e.WorkDir, x.ConfigRel), []byte(x.Config), 0o644); err != nil {
			return err
		}
		argv := append(append([]string{}, pin...), e.Outrigger, "run", "-c", filepath.Join(e.WorkDir, x.ConfigRel))
		x.Cmd = exec.Command(argv[0], argv[1:]...)
		x.Cmd.Env = cleanEnv("GOMAXPROCS=1")
		x.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		x.CmdLine = "GOMAXPROCS=1 " + strings.Join(pin, " ") + " bin/outrigger run -c " + x.ConfigRel
	}
	t.Peer = p
	return nil
}

// waitAdminReady polls the admin API's /ready until it answers 200: for
// a mesh sidecar, once it has its leaf certificate and the CA roots.
func (t *target) waitAdminReady(ctx context.Context) error {
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	var last string
	for {
		if !t.alive() {
			return fmt.Errorf("%s exited during start; log: %s", t.ID, t.logTail(15))
		}
		resp, err := c.Get("http://" + t.Admin + "/ready")
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: /ready on %s did not answer 200 (last: %s); log: %s", t.ID, t.Admin, last, t.logTail(15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startConsul runs `consul agent -dev` on loopback (free ports, no DNS and
// no gRPC) pinned to cpu, and waits until it has a leader and its built-in
// CA lists a root.
func startConsul(bin, cpu, workDir string) (*target, error) {
	var ports [4]int
	seen := map[int]bool{}
	for i := range ports {
		for {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			if !seen[p] {
				seen[p] = true
				ports[i] = p
				break
			}
		}
	}
	t := &target{ID: "consul", Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), LogPath: filepath.Join(workDir, "consul.log")}
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", fmt.Sprint(ports[0]), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", fmt.Sprint(ports[1]), "-serf-wan-port", fmt.Sprint(ports[2]), "-server-port", fmt.Sprint(ports[3]),
		"-log-level", "warn"}
	argv := append([]string{"taskset", "-c", cpu, bin}, args...)
	t.Cmd = exec.Command(argv[0], argv[1:]...)
	t.Cmd.Env = cleanEnv()
	t.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.CmdLine = "taskset -c " + cpu + " bin/consul " + strings.Join(args, " ")
	if err := t.start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	var last string
	for {
		if !t.alive() {
			return nil, fmt.Errorf("consul exited during start; log: %s", tail(t.LogPath, 15))
		}
		var leader string
		var roots struct{ Roots []json.RawMessage }
		if err := getJSON(c, "http://"+t.Addr+"/v1/status/leader", &leader); err != nil {
			last = err.Error()
		} else if leader == "" {
			last = "no leader yet"
		} else if err := getJSON(c, "http://"+t.Addr+"/v1/agent/connect/ca/roots", &roots); err != nil {
			last = err.Error()
		} else if len(roots.Roots) == 0 {
			last = "no CA root yet"
		} else {
			return t, nil
		}
		select {
		case <-ctx.Done():
			t.stop(5 * time.Second)
			return nil, fmt.Errorf("consul not ready within 30s (last: %s); log: %s", last, tail(t.LogPath, 15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// pairCompare is one target against another measured in the same rounds:
// ratios of their medians, the range of the same-round ratios, and the
// same-round differences (b - a) of CPU per request and latency.
type pairCompare struct {
	A, B *row
	// b / a
	RPS, CPU float64
	roundRange
	// b - a: CPU µs per request (of the medians), and the medians over
	// rounds of the same-round differences of p50 and p99, µs
	CPUDiff, P50Diff, P99Diff float64
}

func comparePair(s summary, a, b string) (pairCompare, bool) {
	x, y := s.row(a), s.row(b)
	if x == nil || y == nil || x.RPS == 0 || x.CPUPer1k == 0 {
		return pairCompare{}, false
	}
	c := pairCompare{A: x, B: y, RPS: y.RPS / x.RPS, CPU: y.CPUPer1k / x.CPUPer1k, CPUDiff: (y.CPUPer1k - x.CPUPer1k) * 1000,
		roundRange: roundRanges(x, y)}
	var d50, d99 []float64
	for i := range min(len(x.T.Lat), len(y.T.Lat)) {
		d50 = append(d50, micros(y.T.Lat[i].P50)-micros(x.T.Lat[i].P50))
		d99 = append(d99, micros(y.T.Lat[i].P99)-micros(x.T.Lat[i].P99))
	}
	c.P50Diff, c.P99Diff = median(d50), median(d99)
	return c, true
}

// meshReport is the service-mesh section of results.md.
func meshReport(s summary, o options) string {
	reuse, okR := comparePair(s, tOutrigger2Hop, tOutriggerMTLS)
	nr, okN := comparePair(s, tOutrigger2HopNR, tOutriggerMTLSNR)
	if !okR && !okN {
		return ""
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## Service mesh: two sidecars, plaintext and mTLS\n\n")
	p("The client calls the upstream listener of an Outrigger sidecar \"web\", whose one endpoint (static, `lb: least_conn`, defaults otherwise) is the inbound listener of a second Outrigger sidecar \"payments\" in front of the backend: the path between two services of a mesh. Both sidecars run on CPU %s with `GOMAXPROCS=1` each, so CPU per request and RSS are the two processes' sums, and throughput is what one core gives both hops. Between them either plaintext or Consul Connect mTLS (`upstreams[].connect: true` on web, `connect.enabled` on payments; leaf certificates and roots from a `consul agent -dev` on CPU %s with its built-in CA: ECDSA P-256 leaves and root; TLS 1.3 with Go's default key exchange, X25519MLKEM768; the dev agent has no intentions and allows by default, and payments reads the verdict for every request all the same; before the runs the harness checks that payments refuses a plaintext request). Ratios are mTLS / plaintext of the medians; in brackets the lowest and highest ratio of a single round. Latency differences are the medians over rounds of the same-round differences.\n\n",
		o.ProxyCPU, o.LoadCPU)
	pair := func(c pairCompare, rate int) {
		p("| | %s | %s | mTLS / plaintext | mTLS − plaintext |\n|---|--:|--:|--:|--:|\n", c.A.T.Label, c.B.T.Label)
		p("| throughput req/s | %s | %s | **%.3f×** [%.3f–%.3f] | %s |\n", thousands(c.A.RPS), thousands(c.B.RPS), c.RPS, c.RPSLo, c.RPSHi, thousands(c.B.RPS-c.A.RPS))
		p("| CPU µs per request, both sidecars | %.1f | %.1f | **%.3f×** [%.3f–%.3f] | **%+.1f µs** |\n", c.A.CPUPer1k*1000, c.B.CPUPer1k*1000, c.CPU, c.CPULo, c.CPUHi, c.CPUDiff)
		p("| p50 at %d req/s | %.0f µs | %.0f µs | %s | **%+.0f µs** |\n", rate, c.A.P50, c.B.P50, ratio(c.B.P50, c.A.P50), c.P50Diff)
		p("| p99 at %d req/s | %.0f µs | %.0f µs | %s | **%+.0f µs** |\n", rate, c.A.P99, c.B.P99, ratio(c.B.P99, c.A.P99), c.P99Diff)
		if rate == o.Rate {
			p("| added p50 / p99 over direct | %.0f / %.0f µs | %.0f / %.0f µs | | |\n", c.A.AddP50, c.A.AddP99, c.B.AddP50, c.B.AddP99)
		}
		p("| RSS idle / peak, both sidecars | %.1f / %.1f MiB | %.1f / %.1f MiB | | |\n", c.A.IdleMiB, c.A.PeakMiB, c.B.IdleMiB, c.B.PeakMiB)
	}
	if okR {
		p("**Pooled connections** (the defaults: web keeps up to 64 idle connections to payments, so handshakes happen only while the pool fills, and the difference is the per-request cost of TLS: record encryption and decryption on both sides of the hop, and the intention verdict payments reads per request):\n\n")
		pair(reuse, o.Rate)
		p("\nWith pooled connections, mTLS gave %.1f%% %s throughput than plaintext and cost %.1f%% %s CPU per request (%+.1f µs for both sidecars), and added %+.0f µs at p50 and %+.0f µs at p99.\n\n",
			100*abs(reuse.RPS-1), moreLess(reuse.RPS), 100*abs(reuse.CPU-1), moreLess(reuse.CPU), reuse.CPUDiff, reuse.P50Diff, reuse.P99Diff)
	}
	if okN {
		p("**A new connection per request** (`max_idle_per_endpoint: 0` on web's upstream: every request opens a TCP connection to payments and, with mTLS, does a full handshake — no session resumption; the client's connections to web stay keep-alive). Throughput here is connections per second, and the CPU difference is what a handshake costs both sidecars together, plus the per-request TLS cost measured above:\n\n")
		pair(nr, o.NoReuseRate)
		p("\n")
		if okR {
			hs := nr.CPUDiff - reuse.CPUDiff
			p("**Handshake cost**: a full mTLS handshake (ECDSA P-256 leaves, both sides verifying the other's chain against Consul's roots, web checking payments' SPIFFE ID; `BenchmarkMeshHandshake` in `sidecar/connect` measures the same handshake in one process, without the proxying) costs the two sidecars together about **%.0f µs of CPU** (%.1f µs per request with a handshake each, less %.1f µs per request on a pooled connection), one core opens %s mTLS connections per second through them against %s plaintext ones (%.2f×), and the handshake adds %+.0f µs at p50 and %+.0f µs at p99 to the request that opens the connection.\n",
				hs, nr.CPUDiff, reuse.CPUDiff, thousands(nr.B.RPS), thousands(nr.A.RPS), nr.RPS, nr.P50Diff, nr.P99Diff)
		}
	}
	return b.String()
}

// meshStdout is the service-mesh summary printed at the end of a run.
func meshStdout(s summary) string {
	var b strings.Builder
	if c, ok := comparePair(s, tOutrigger2Hop, tOutriggerMTLS); ok {
		fmt.Fprintf(&b, "\nmTLS / plaintext between two sidecars, pooled: throughput %.3f× [rounds %.3f–%.3f], CPU per request %.3f× [rounds %.3f–%.3f] (%.1f vs %.1f µs, %+.1f), p50 %+.0f µs, p99 %+.0f µs\n",
			c.RPS, c.RPSLo, c.RPSHi, c.CPU, c.CPULo, c.CPUHi, c.B.CPUPer1k*1000, c.A.CPUPer1k*1000, c.CPUDiff, c.P50Diff, c.P99Diff)
		if n, ok := comparePair(s, tOutrigger2HopNR, tOutriggerMTLSNR); ok {
			fmt.Fprintf(&b, "a connection per request: %s mTLS vs %s plaintext conn/s (%.3f×), CPU per request %.1f vs %.1f µs (%+.1f): handshake ≈ %.0f µs CPU, p50 %+.0f µs, p99 %+.0f µs\n",
				thousands(n.B.RPS), thousands(n.A.RPS), n.RPS, n.B.CPUPer1k*1000, n.A.CPUPer1k*1000, n.CPUDiff, n.CPUDiff-c.CPUDiff, n.P50Diff, n.P99Diff)
		}
	}
	return b.String()
}

// meshFeatures is what the Features line of results.md says about the
// two-sidecar targets, when any ran.
func meshFeatures(s summary, o options) string {
	var ids []string
	for _, r := range s.Rows {
		if twoHop, _, _ := isTwoHop(r.T.Base); twoHop {
			ids = append(ids, "`"+r.T.ID+"`")
		}
	}
	if len(ids) == 0 {
		return ""
	}
	note := fmt.Sprintf(" The two-sidecar targets (%s) run two Outrigger processes, web and payments, both on CPU %s: their CPU and RSS are the sums of the two (see *Service mesh* below).",
		strings.Join(ids, ", "), o.ProxyCPU)
	if s.row(tHAProxyMTLS) != nil {
		note += fmt.Sprintf(" `%s` is their HAProxy peer: two HAProxy processes in a row with mTLS between them (see *mTLS between two proxies* below).", tHAProxyMTLS)
	}
	return note
}
