package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// haproxyMTLSTarget builds haproxy-mtls: "web", an HAProxy whose frontend
// the load calls and whose one server is "payments", a second HAProxy,
// reached over TLS with a client certificate, the server's checked
// against the harness's CA and name; payments requires and verifies the
// client certificate and forwards to the backend. Both on the proxy CPU
// with nbthread 1, each config as the plain haproxy target's otherwise, so
// that the pair is the like-for-like peer of outrigger-mtls.
func haproxyMTLSTarget(t *target, e benchEnv) error {
	if e.Certs == nil {
		return errors.New(t.ID + ": no certificates")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	inbound := fmt.Sprintf("127.0.0.1:%d", port)
	t.Label, t.Short = "HAProxy → HAProxy, mTLS", "hap-mtls"
	t.ConfigRel = t.ID + "-web.cfg"
	t.Config = haproxyServerConfig(t.Addr,
		fmt.Sprintf("server payments %s ssl verify required ca-file %s crt %s sni str(%s) verifyhost %s ssl-min-ver TLSv1.3",
			inbound, e.Certs.CA, e.Certs.ClientPEM, mtlsServerName, mtlsServerName),
		"")
	p := &target{ID: t.ID + "-payments", Base: t.Base, Label: "payments HAProxy of " + t.Label, Short: t.Short,
		Addr: inbound, LogPath: filepath.Join(e.WorkDir, t.ID+"-payments.log"), ConfigRel: t.ID + "-payments.cfg"}
	p.Config = haproxyServerConfig(inbound, "server s1 "+e.Backend,
		fmt.Sprintf(" ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.3", e.Certs.ServerPEM, e.Certs.CA))

	pin := []string{"taskset", "-c", e.ProxyCPU}
	for _, x := range []*target{t, p} {
		if err := os.WriteFile(filepath.Join(e.WorkDir, x.ConfigRel), []byte(x.Config), 0o644); err != nil {
			return err
		}
		argv := append(append([]string{}, pin...), e.HAProxy, "-db", "-f", filepath.Join(e.WorkDir, x.ConfigRel))
		x.Cmd = exec.Command(argv[0], argv[1:]...)
		x.Cmd.Env = cleanEnv()
		x.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		x.CmdLine = strings.Join(pin, " ") + " haproxy -db -f " + x.ConfigRel
	}
	t.Peer = p
	return nil
}

// haproxyServerConfig is the HAProxy config of the bench: one frontend on
// listen (with bindOpts added to its bind line) and one backend of the
// server line given (haproxyConfig's plain one, or the mTLS targets').
func haproxyServerConfig(listen, server, bindOpts string) string {
	return fmt.Sprintf(`global
    nbthread 1
    maxconn 4096

defaults
    mode http
    option forwardfor
    http-reuse always
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend fe
    bind %s%s
    default_backend be

backend be
    balance leastconn
    http-reuse always
    %s
`, listen, bindOpts, server)
}

// mtlsPeerReport is the section of results.md that sets two Outriggers
// with mTLS against two HAProxys with mTLS.
func mtlsPeerReport(s summary, o options) string {
	c, ok := comparePair(s, tHAProxyMTLS, tOutriggerMTLS)
	if !ok {
		return ""
	}
	sr := sameRoundRatios(c.A, c.B)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## mTLS between two proxies: Outrigger and HAProxy\n\n")
	p("`%s` (two Outrigger sidecars, Consul Connect mTLS between them, see above) against `%s`: two HAProxy processes in a row on CPU %s, `nbthread 1` each, the first originating TLS 1.3 with a client certificate to the second (`ssl verify required ca-file … crt … verifyhost %s`, pooled with `http-reuse always`), which terminates it (`bind … ssl crt … ca-file … verify required`) and forwards to the backend. The harness makes the certificates for each run with Go's crypto/x509: a CA and two leaves, all ECDSA P-256, as Consul's. HAProxy checks no intentions (payments' Outrigger reads the verdict for every request), and its key exchange is OpenSSL's default (X25519) against Go's X25519MLKEM768, which only the handshakes while the pools fill see. CPU and RSS are the sums of the two processes. *Same-round* is the median over the rounds of Outrigger / HAProxy of the same round.\n\n",
		tOutriggerMTLS, tHAProxyMTLS, o.ProxyCPU, mtlsServerName)
	p("| | %s | %s | Outrigger / HAProxy |\n|---|--:|--:|--:|\n", c.A.T.Label, c.B.T.Label)
	p("| throughput req/s | %s | %s | **%.3f×** same-round, %.3f× of the medians [%.3f–%.3f] |\n", thousands(c.A.RPS), thousands(c.B.RPS), sr.RPS, c.RPS, c.RPSLo, c.RPSHi)
	p("| CPU µs per request, both processes | %.1f | %.1f | **%.3f×** same-round, %.3f× of the medians [%.3f–%.3f] |\n", c.A.CPUPer1k*1000, c.B.CPUPer1k*1000, sr.CPU, c.CPU, c.CPULo, c.CPUHi)
	p("| added p50 / p99 at %d req/s | %.0f / %.0f µs | %.0f / %.0f µs | %s / %s |\n", o.Rate, c.A.AddP50, c.A.AddP99, c.B.AddP50, c.B.AddP99, ratio(c.B.AddP50, c.A.AddP50), ratio(c.B.AddP99, c.A.AddP99))
	p("| RSS idle / peak, both processes | %.1f / %.1f MiB | %.1f / %.1f MiB | %s / %s |\n", c.A.IdleMiB, c.A.PeakMiB, c.B.IdleMiB, c.B.PeakMiB, ratio(c.B.IdleMiB, c.A.IdleMiB), ratio(c.B.PeakMiB, c.A.PeakMiB))
	return b.String()
}

// mtlsPeerStdout is the same comparison in one line.
func mtlsPeerStdout(s summary) string {
	c, ok := comparePair(s, tHAProxyMTLS, tOutriggerMTLS)
	if !ok {
		return ""
	}
	sr := sameRoundRatios(c.A, c.B)
	return fmt.Sprintf("\nOutrigger → Outrigger mTLS / HAProxy → HAProxy mTLS: throughput same-round %.3f× (%s vs %s req/s), CPU per request same-round %.3f× (%.1f vs %.1f µs)\n",
		sr.RPS, thousands(c.B.RPS), thousands(c.A.RPS), sr.CPU, c.B.CPUPer1k*1000, c.A.CPUPer1k*1000)
}
