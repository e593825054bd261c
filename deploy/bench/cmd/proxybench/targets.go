package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Target IDs, in the order they are reported.
const (
	tDirect         = "direct"
	tOutrigger      = "outrigger"
	tOutriggerRoute = "outrigger-routing" // the client calls a routing listener (10 routes, the last one taken)
	tOutriggerTrce  = "outrigger-trace1pct"
	tOutriggerBase  = "outrigger-baseline" // -baseline BIN: another build, for before/after in one run
	tHAProxy        = "haproxy"
	tNginx          = "nginx"
	// Two Outrigger sidecars in a row, as between two services of a mesh:
	// the client calls "web"'s upstream listener, whose one endpoint is
	// "payments"' inbound listener, in front of the backend. Plaintext, or
	// Consul Connect mTLS between the two (identity from a consul dev agent
	// the harness starts); and the same two with max_idle_per_endpoint: 0 on
	// web's upstream, so that every request opens (and, with mTLS, does a
	// full handshake on) a new web -> payments connection.
	tOutrigger2Hop   = "outrigger-2hop"
	tOutriggerMTLS   = "outrigger-mtls"
	tOutrigger2HopNR = "outrigger-2hop-noreuse"
	tOutriggerMTLSNR = "outrigger-mtls-noreuse"
	// Traffic control, each against the plain target in the same rounds:
	// the access log on (JSON, to a file in the work dir), and a
	// rate_limit far above anything the bench offers (see traffic.go).
	tOutriggerALog = "outrigger-accesslog"
	tOutriggerRate = "outrigger-ratelimit"
	// The like-for-like peer of outrigger-mtls: two HAProxy processes in a
	// row on the proxy core, the first originating TLS with a client
	// certificate to the second, which requires and verifies it and
	// forwards to the backend (certificates made by the harness, see
	// certs.go and haproxy_mtls.go).
	tHAProxyMTLS = "haproxy-mtls"
	// The floor of a Go proxy here: `proxybench forward`, a keep-alive
	// forwarder without net/http types or any of Outrigger's features
	// (forward.go). A reference for what Outrigger's request path costs.
	tGoFloor = "go-floor"
	// The plain target once more with -pprof, for the flame graph after
	// the rounds (profile_run.go); not a target of -targets.
	tOutriggerProf = "outrigger-pprof"
)

// allTargets are the known targets.
var allTargets = []string{tDirect, tOutrigger, tOutriggerRoute, tOutriggerTrce, tOutriggerALog, tOutriggerRate,
	tOutrigger2Hop, tOutriggerMTLS, tOutrigger2HopNR, tOutriggerMTLSNR, tHAProxy, tHAProxyMTLS, tNginx, tGoFloor}

// defaultTargets are measured without -targets: all but the two
// connection-per-request targets, which measure handshakes rather than
// proxying (run them with -targets), and, to keep make bench near 12
// minutes, with 64 connections direct, Outrigger and HAProxy but not
// nginx (add nginx@64 with -targets), and with 64 KiB bodies direct,
// Outrigger, HAProxy and nginx.
var defaultTargets = []string{tDirect, tOutrigger, tOutriggerRoute, tOutriggerTrce, tOutriggerALog, tOutriggerRate,
	tOutrigger2Hop, tOutriggerMTLS, tHAProxyMTLS, tHAProxy, tNginx, tGoFloor,
	tDirect + "@64", tOutrigger + "@64", tHAProxy + "@64",
	tDirect + bigSuffix, tOutrigger + bigSuffix, tHAProxy + bigSuffix, tNginx + bigSuffix}

// isTwoHop says whether id is one of the two-sidecar targets, and
// whether it uses the mesh (mTLS) and reuses web -> payments connections.
func isTwoHop(id string) (twoHop, mtls, reuse bool) {
	switch id {
	case tOutrigger2Hop:
		return true, false, true
	case tOutriggerMTLS:
		return true, true, true
	case tOutrigger2HopNR:
		return true, false, false
	case tOutriggerMTLSNR:
		return true, true, false
	}
	return false, false, false
}

// target is one thing the load is sent to: the backend itself, or a proxy
// in front of it.
type target struct {
	ID    string
	Base  string // ID without its variant suffix (variants.go)
	Conns int    // connections of its runs; 0: -conns
	Big   bool   // the 64 KiB body (bigPath)
	Label string // for tables
	Short string // for the chart
	Addr  string // host:port the load goes to
	// For proxies:
	Cmd       *exec.Cmd
	CmdLine   string // the exact command, for results.md
	ConfigRel string // config file name in the work dir
	Config    string // its contents
	LogPath   string
	Admin     string // Outrigger: its admin address (/metrics)
	AccessLog string // outrigger-accesslog: the access log file

	done chan struct{} // closed when the process has exited

	// Peer is the second process of a two-sidecar target (the "payments"
	// sidecar; the target's own process is "web", the one the load calls):
	// started, checked and stopped with it, and its CPU and memory are
	// added to the target's.
	Peer *target

	IdleKB, PeakKB int64
	Tput           []wrkResult
	Lat            []latResult
}

func (t *target) URL() string {
	if t.Big {
		return "http://" + t.Addr + bigPath
	}
	return "http://" + t.Addr + "/"
}

// rate is the request rate of the target's latency runs: -rate, but
// -noreuse-rate for the connection-per-request targets.
func (t *target) rate(o options) int {
	if twoHop, _, reuse := isTwoHop(t.Base); twoHop && !reuse {
		return o.NoReuseRate
	}
	return o.Rate
}

func (t *target) isProxy() bool { return t.Base != tDirect }

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the environment without the variables Outrigger honours
// (so the config file is the one in force) and without HTTP proxies.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		ku := strings.ToUpper(k)
		if strings.HasPrefix(ku, "OUTRIGGER_") || strings.HasPrefix(ku, "OTEL_") ||
			strings.HasPrefix(ku, "CONSUL_") || ku == "HTTP_PROXY" || ku == "HTTPS_PROXY" ||
			ku == "ALL_PROXY" || ku == "GOMAXPROCS" || ku == "GOGC" || ku == "GOMEMLIMIT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

type benchEnv struct {
	WorkDir   string
	ProxyCPU  string
	LoadCPU   string
	Outrigger string
	Baseline  string // -baseline: an outrigger binary to compare with
	HAProxy   string
	Nginx     string
	Backend   string     // backend address
	Consul    string     // the consul dev agent's HTTP address ("" when no mesh target runs)
	Certs     *certFiles // the haproxy-mtls certificates (nil when it does not run)
	Self      string     // this binary, for go-floor (proxybench forward)
}

func outriggerConfig(listen, backend, admin, tracing string) string {
	return outriggerConfigWith("", listen, backend, admin, "", tracing)
}

// outriggerConfigWith is outriggerConfig with comment lines after the
// first (note), keys added to the upstream (upstreamKeys, indented) and
// top-level keys (extra) added at the end: the traffic-control targets
// differ from the plain one by these lines only.
func outriggerConfigWith(note, listen, backend, admin, upstreamKeys, extra string) string {
	return fmt.Sprintf(`# Outrigger: defaults (least_conn, outlier detection and circuit breaker on)
%sservice:
  name: bench
upstreams:
  - name: backend
    listen: %s
    endpoints: ["%s"]
    lb: least_conn
%sadmin:
  listen: %s
log:
  level: warn
drain_timeout: 2s
%s`, note, listen, backend, upstreamKeys, admin, extra)
}

// The routing listener of the outrigger-routing target: the plain
// target's upstream (same endpoint, same defaults), reached through a
// listener of routingRoutes routes of which the benchmark request
// (GET / with Host 127.0.0.1:PORT and no other header than wrk's or Go's)
// matches only the last, a catch-all. The nine before it stand for the
// other services behind one port: hosts (exact and wildcard), path
// prefixes, an exact path, header matches and a method list, so the
// request goes through the host lookup, the path-prefix lookups and the
// walk of the routes without a path condition before it lands on the last
// one. They all name "decoy", whose one endpoint is a closed loopback port:
// a request routed there would fail, and the route counters are checked
// after the runs (checkRoutes).
const (
	routingListener = "bench"
	routingCatchAll = "catch-all"
	routingDecoy    = "decoy"
	routingRoutes   = 10
)

func outriggerRoutingConfig(listen, backend, decoy, admin, tracing string) string {
	return fmt.Sprintf(`# Outrigger: defaults (least_conn, outlier detection and circuit breaker on),
# the client calling a routing listener of 10 routes of which the benchmark
# request (GET /, Host 127.0.0.1:PORT) matches only the last.
service:
  name: bench
upstreams:
  - name: backend            # no listen: only the routes reach it
    endpoints: ["%[2]s"]
    lb: least_conn
  - name: %[5]s              # routes 0-8; the bench never matches them (closed port)
    endpoints: ["%[3]s"]
    lb: least_conn
listeners:
  - name: %[6]s
    listen: %[1]s
    routes:
      - name: users
        match: {host: users.bench.internal}
        upstream: %[5]s
      - name: billing
        match: {host: "*.billing.bench.internal"}
        upstream: %[5]s
      - name: api-v1
        match: {path_prefix: /api/v1/}
        upstream: %[5]s
      - name: api-v2
        match: {path_prefix: /api/v2/, methods: [GET, POST]}
        upstream: %[5]s
      - name: static
        match: {path_prefix: /static/}
        strip_prefix: true
        upstream: %[5]s
      - name: healthz
        match: {path: /healthz}
        upstream: %[5]s
      - name: canary
        match: {headers: {x-canary: "1"}}
        upstream: %[5]s
      - name: tenant-beta
        match: {headers: {x-tenant: beta, x-env: staging}}
        upstream: %[5]s
      - name: admin
        match: {host: admin.bench.internal, path_prefix: /admin/}
        upstream: %[5]s
      - name: %[7]s
        match: {path_prefix: /}
        upstream: backend
admin:
  listen: %[4]s
log:
  level: warn
drain_timeout: 2s
%[8]s`, listen, backend, decoy, admin, routingDecoy, routingListener, routingCatchAll, tracing)
}

func haproxyConfig(listen, backend string) string {
	return haproxyServerConfig(listen, "server s1 "+backend, "")
}

func nginxConfig(dir, listen, backend string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/nginx-tmp/body;
    proxy_temp_path %[1]s/nginx-tmp/proxy;
    fastcgi_temp_path %[1]s/nginx-tmp/fastcgi;
    uwsgi_temp_path %[1]s/nginx-tmp/uwsgi;
    scgi_temp_path %[1]s/nginx-tmp/scgi;
    keepalive_requests 1000000;
    upstream be {
        least_conn;
        server %[3]s;
        keepalive 32;
        keepalive_requests 1000000;
    }
    server {
        listen %[2]s;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # A body bigger than the buffers (the 64 KiB targets) streams
            # to the client rather than spill to a temp file on disk.
            proxy_max_temp_file_size 0;
        }
    }
}
`, dir, listen, backend)
}

// newTarget builds (but does not start) the target id.
func newTarget(id string, e benchEnv) (*target, error) {
	t, err := newBaseTarget(id, e)
	if err != nil {
		return nil, err
	}
	t.labelVariant()
	return t, nil
}

// newBaseTarget is newTarget without the variant in the labels.
func newBaseTarget(id string, e benchEnv) (*target, error) {
	t := &target{ID: id}
	if err := t.applyVariant(); err != nil {
		return nil, err
	}
	if t.Base == tDirect {
		t.Label, t.Short, t.Addr = "direct (no proxy)", "direct", e.Backend
		return t, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	t.LogPath = filepath.Join(e.WorkDir, id+".log")
	pin := []string{"taskset", "-c", e.ProxyCPU}
	var argv, env []string
	switch t.Base {
	case tOutrigger, tOutriggerRoute, tOutriggerTrce, tOutriggerBase, tOutriggerALog, tOutriggerRate, tOutriggerProf:
		admin, err := freePort()
		if err != nil {
			return nil, err
		}
		tracing := "tracing:\n  exporter: none\n"
		t.Label, t.Short = "Outrigger", "outrigger"
		if t.Base == tOutriggerTrce {
			closed, err := freePort() // nothing listens there: exports fail, requests must not care
			if err != nil {
				return nil, err
			}
			tracing = fmt.Sprintf("tracing:\n  exporter: otlp\n  protocol: grpc\n  endpoint: 127.0.0.1:%d   # closed port: measures the sampling cost\n  insecure: true\n  sample_ratio: 0.01\n", closed)
			t.Label, t.Short = "Outrigger, tracing 1%", "outr+trc1%"
		}
		bin, shown := e.Outrigger, "bin/outrigger"
		if t.Base == tOutriggerBase {
			bin, shown = e.Baseline, e.Baseline
			t.Label, t.Short = "Outrigger, baseline build", "baseline"
		}
		t.ConfigRel = id + ".yaml"
		t.Admin = fmt.Sprintf("127.0.0.1:%d", admin)
		t.Config = outriggerConfig(t.Addr, e.Backend, t.Admin, tracing)
		if t.Base == tOutriggerRoute {
			closed, err := freePort() // nothing listens there: a request the decoy routes took would fail
			if err != nil {
				return nil, err
			}
			t.Label, t.Short = "Outrigger, routing listener", "outr+route"
			t.Config = outriggerRoutingConfig(t.Addr, e.Backend, fmt.Sprintf("127.0.0.1:%d", closed), t.Admin, tracing)
		}
		if t.Base == tOutriggerALog || t.Base == tOutriggerRate {
			trafficTarget(t, e, tracing)
		}
		run := []string{"run"}
		if t.Base == tOutriggerProf {
			run = append(run, "-pprof") // the admin API serves /debug/pprof/
		}
		argv = append(append(pin, bin), append(run, "-c", filepath.Join(e.WorkDir, t.ConfigRel))...)
		env = cleanEnv("GOMAXPROCS=1")
		t.CmdLine = "GOMAXPROCS=1 " + strings.Join(pin, " ") + " " + shown + " " + strings.Join(run, " ") + " -c " + t.ConfigRel
	case tOutrigger2Hop, tOutriggerMTLS, tOutrigger2HopNR, tOutriggerMTLSNR:
		if err := twoHopTarget(t, e); err != nil {
			return nil, err
		}
		return t, nil
	case tHAProxyMTLS:
		if err := haproxyMTLSTarget(t, e); err != nil {
			return nil, err
		}
		return t, nil
	case tHAProxy:
		t.Label, t.Short = "HAProxy", "haproxy"
		t.ConfigRel = id + ".cfg"
		t.Config = haproxyConfig(t.Addr, e.Backend)
		argv = append(pin, e.HAProxy, "-db", "-f", filepath.Join(e.WorkDir, t.ConfigRel))
		env = cleanEnv()
		t.CmdLine = strings.Join(pin, " ") + " haproxy -db -f " + t.ConfigRel
	case tGoFloor:
		t.Label, t.Short = "Go floor: minimal forwarder (reference)", "go-floor"
		t.ConfigRel = id + ".txt" // no config: the command line says it all
		t.Config = "proxybench forward: see deploy/bench/cmd/proxybench/forward.go\n"
		argv = append(pin, e.Self, "forward", "-listen", t.Addr, "-upstream", e.Backend)
		env = cleanEnv("GOMAXPROCS=1")
		t.CmdLine = "GOMAXPROCS=1 " + strings.Join(pin, " ") + " proxybench forward -listen ADDR -upstream BACKEND"
	case tNginx:
		t.Label, t.Short = "nginx", "nginx"
		t.ConfigRel = id + ".conf"
		t.Config = nginxConfig(filepath.Join(e.WorkDir, id), t.Addr, e.Backend)
		// Each nginx its own prefix (pid file, temp paths, error log).
		prefix := filepath.Join(e.WorkDir, id)
		if err := os.MkdirAll(filepath.Join(prefix, "nginx-tmp"), 0o755); err != nil {
			return nil, err
		}
		argv = append(pin, e.Nginx, "-p", prefix, "-e", filepath.Join(prefix, "nginx-error.log"),
			"-c", filepath.Join(e.WorkDir, t.ConfigRel))
		env = cleanEnv()
		t.CmdLine = strings.Join(pin, " ") + " nginx -p WORKDIR/" + id + " -e WORKDIR/" + id + "/nginx-error.log -c " + t.ConfigRel
	default:
		return nil, fmt.Errorf("unknown target %q", id)
	}
	if err := os.WriteFile(filepath.Join(e.WorkDir, t.ConfigRel), []byte(t.Config), 0o644); err != nil {
		return nil, err
	}
	t.Cmd = exec.Command(argv[0], argv[1:]...)
	t.Cmd.Env = env
	t.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C reaches only the harness, which stops them
	return t, nil
}

func (t *target) start() error {
	if t.Cmd == nil {
		return nil
	}
	if t.Peer != nil {
		if err := t.Peer.start(); err != nil {
			return err
		}
	}
	f, err := os.Create(t.LogPath)
	if err != nil {
		t.stop(time.Second) // the peer
		return err
	}
	t.Cmd.Stdout, t.Cmd.Stderr = f, f
	if err := t.Cmd.Start(); err != nil {
		f.Close()
		t.stop(time.Second) // the peer
		return fmt.Errorf("%s: %w", t.ID, err)
	}
	t.done = make(chan struct{})
	go func() { _ = t.Cmd.Wait(); f.Close(); close(t.done) }()
	return nil
}

func (t *target) pid() int {
	if t.Cmd == nil || t.Cmd.Process == nil {
		return 0
	}
	return t.Cmd.Process.Pid
}

func (t *target) alive() bool {
	if t.done == nil || (t.Peer != nil && !t.Peer.alive()) {
		return false
	}
	select {
	case <-t.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM (nginx: SIGQUIT is graceful, SIGTERM fast; both fine
// here) and SIGKILL after the grace period.
func (t *target) stop(grace time.Duration) {
	if t.Peer != nil {
		defer t.Peer.stop(grace)
	}
	if t.done == nil {
		return
	}
	select {
	case <-t.done:
		return
	default:
	}
	pid := t.pid()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(grace):
		// The whole process group: nginx's worker too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-t.done
	}
}

// probe sends one GET through the target and checks the answer's size.
func probe(ctx context.Context, url string, size int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(b) != size {
		return fmt.Errorf("GET %s: status %d, %d bytes (want 200, %d)", url, resp.StatusCode, len(b), size)
	}
	return nil
}

// waitReady polls until a GET through the target returns the backend's
// answer, or the timeout passes.
func (t *target) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if t.Peer != nil && t.Admin != "" {
		// Both sidecars ready (in the mesh: with their identities) before
		// the first request goes through, so that no probe fails on a
		// handshake and counts against web's endpoint.
		for _, x := range []*target{t.Peer, t} {
			if err := x.waitAdminReady(ctx); err != nil {
				return err
			}
		}
	}
	var last error
	for {
		if t.Cmd != nil && !t.alive() {
			return fmt.Errorf("%s exited during start; log: %s", t.ID, t.logTail(15))
		}
		if last = probe(ctx, t.URL(), t.bodySize()); last == nil {
			if _, mtls, _ := isTwoHop(t.Base); mtls || t.Base == tHAProxyMTLS {
				// What the load measures is mTLS: the second process
				// takes nothing else.
				if probe(ctx, t.Peer.URL(), t.bodySize()) == nil {
					return fmt.Errorf("%s: the second process answered a plaintext request on its listener %s", t.ID, t.Peer.Addr)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log: %s", t.ID, timeout, last, t.logTail(15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail is the end of the target's log, and of its peer's.
func (t *target) logTail(n int) string {
	s := tail(t.LogPath, n)
	if t.Peer != nil {
		s += "\n  " + t.Peer.ID + ":" + tail(t.Peer.LogPath, n)
	}
	return s
}

// cpuTicks is utime+stime of the target's processes (with its peer's).
func (t *target) cpuTicks() (int64, error) {
	n, err := cpuTicks(t.pid())
	if err != nil || t.Peer == nil {
		return n, err
	}
	m, err := cpuTicks(t.Peer.pid())
	return n + m, err
}

// memKB is a /proc/<pid>/status field summed over the target's processes
// (with its peer's).
func (t *target) memKB(field string) (int64, error) {
	n, err := memKB(t.pid(), field)
	if err != nil || t.Peer == nil {
		return n, err
	}
	m, err := memKB(t.Peer.pid(), field)
	return n + m, err
}

func tail(path string, n int) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}
