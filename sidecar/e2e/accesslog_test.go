package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// accessLogLine is one JSON line of the access log, every key required
// (docs/access-log.md).
type accessLogLine struct {
	Time       string  `json:"time"`
	Listener   string  `json:"listener"`
	Upstream   string  `json:"upstream"`
	Route      string  `json:"route"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	Endpoint   string  `json:"endpoint"`
	Retries    int     `json:"retries"`
	Error      string  `json:"error"`
	TraceID    string  `json:"trace_id"`
	Client     string  `json:"client"`
}

var accessLogKeys = []string{"time", "listener", "upstream", "route", "method", "path", "status", "duration_ms",
	"bytes_in", "bytes_out", "endpoint", "retries", "error", "trace_id", "client"}

// readAccessLog waits (within 10s) until path holds n lines, and checks
// that each is one well-formed JSON object with exactly the contract's
// keys; it returns them decoded.
func readAccessLog(t *testing.T, path string, n int) []accessLogLine {
	t.Helper()
	var raw [][]byte
	waitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		raw = bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
		if len(b) == 0 {
			raw = nil
		}
		return len(raw) >= n
	}, fmt.Sprintf("%d lines in %s", n, path))
	if len(raw) != n {
		t.Fatalf("%s has %d lines, want exactly %d", path, len(raw), n)
	}
	out := make([]accessLogLine, n)
	for i, line := range raw {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(line, &keys); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i+1, err, line)
		}
		if len(keys) != len(accessLogKeys) {
			t.Errorf("line %d has %d keys, want %d: %s", i+1, len(keys), len(accessLogKeys), line)
		}
		for _, k := range accessLogKeys {
			if _, ok := keys[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i+1, k, line)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, out[i].Time); err != nil || !strings.HasSuffix(out[i].Time, "Z") {
			t.Errorf("line %d: time %q is not RFC 3339 UTC", i+1, out[i].Time)
		}
	}
	return out
}

func accessLogYAML(logPath, backend, dead, echo string) string {
	return fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
access_log:
  enabled: true
  path: %q
  format: json
upstreams:
  - name: payments
    listen: 127.0.0.1:0
    endpoints: [%q]
  - name: broken
    listen: 127.0.0.1:0
    connect_timeout: 500ms
    retries: {attempts: 0}
    outlier: {enabled: false}
    circuit_breaker: {min_requests: 1000000}   # every request is a connect failure, never circuit_open
    endpoints: [%q]
  - name: db
    listen: 127.0.0.1:0
    protocol: tcp
    endpoints: [%q]
listeners:
  - name: edge
    listen: 127.0.0.1:0
    routes:
      - {name: api, match: {path_prefix: /api/}, upstream: payments, strip_prefix: true}
`, logPath, backend, dead, echo)
}

// 200 requests of five kinds through the real binary — answers with a
// query string, POSTs with a body, requests through a routing listener's
// route, the listener's own no_route, and connect failures — each with
// credentials in its headers, give exactly 200 well-formed lines with the
// right fields and not one credential. Then logrotate's way: the file is
// renamed and SIGUSR1 sent; later lines (HTTP and a TCP connection) go to
// a new file at the path.
func TestAccessLogE2E(t *testing.T) {
	backend := newEchoBackend(t, "pay-1")
	echo := newTCPEcho(t)
	dead := closedAddr(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := startSidecar(t, accessLogYAML(logPath, backend.addr, dead, echo.addr()))
	edge := p.listenerAddr("edge")
	client := newClient(t)

	const n = 200
	type sent struct {
		kind, method, path string
		status             int
		bodyIn, bodyOut    int
	}
	var want []sent
	for i := range n {
		var s sent
		var target, addr string
		var body io.Reader
		switch i % 5 {
		case 0:
			s = sent{kind: "answer", method: "GET", path: fmt.Sprintf("/pay?id=%d&note=a%%20b", i), status: 200}
			addr = p.listen["payments"]
		case 1:
			s = sent{kind: "post", method: "POST", path: fmt.Sprintf("/charge/%d", i), status: 200, bodyIn: 11}
			addr, body = p.listen["payments"], strings.NewReader("amount=1234")
		case 2:
			s = sent{kind: "routed", method: "GET", path: fmt.Sprintf("/api/users/%d?q=1", i), status: 200}
			addr = edge
		case 3:
			s = sent{kind: "no_route", method: "GET", path: fmt.Sprintf("/nowhere/%d", i), status: 404}
			addr = edge
		case 4:
			s = sent{kind: "connect_failure", method: "GET", path: fmt.Sprintf("/x/%d", i), status: 502}
			addr = p.listen["broken"]
		}
		target = "http://" + addr + s.path
		req, err := http.NewRequest(s.method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", fmt.Sprintf("Bearer AUTHSECRET%d", i))
		req.Header.Set("Proxy-Authorization", "Basic PROXYSECRET")
		req.Header.Set("Cookie", "session=COOKIESECRET; other=1")
		req.Header.Set("X-Api-Token", "TOKENSECRET")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, s.kind, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != s.status {
			t.Fatalf("request %d (%s): status %d, want %d", i, s.kind, resp.StatusCode, s.status)
		}
		s.bodyOut = len(b)
		want = append(want, s)
	}

	lines := readAccessLog(t, logPath, n)
	raw, _ := os.ReadFile(logPath)
	for _, secret := range []string{"AUTHSECRET", "PROXYSECRET", "COOKIESECRET", "TOKENSECRET", "Bearer", "session="} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the access log holds %q", secret)
		}
	}
	// A line is enqueued once its response is written, so two requests in
	// a row may log in either order: lines are matched by their (unique)
	// paths.
	byPath := map[string]accessLogLine{}
	for _, l := range lines {
		byPath[l.Path] = l
	}
	if len(byPath) != n {
		t.Fatalf("%d distinct paths in %d lines, want %d", len(byPath), len(lines), n)
	}
	for i, w := range want {
		l, ok := byPath[w.path]
		if !ok {
			t.Errorf("no line for request %d (%s %s)", i, w.method, w.path)
			continue
		}
		bad := l.Method != w.method || l.Path != w.path || l.Status != w.status || l.BytesIn != int64(w.bodyIn) ||
			l.BytesOut != int64(w.bodyOut) || !strings.HasPrefix(l.Client, "127.0.0.1:") || l.DurationMS < 0 || l.Retries != 0
		switch w.kind {
		case "answer", "post":
			bad = bad || l.Upstream != "payments" || l.Listener != "" || l.Route != "" || l.Endpoint != backend.addr || l.Error != ""
		case "routed":
			bad = bad || l.Upstream != "payments" || l.Listener != "edge" || l.Route != "api" || l.Endpoint != backend.addr || l.Error != ""
		case "no_route":
			bad = bad || l.Upstream != "" || l.Listener != "edge" || l.Route != "" || l.Endpoint != "" || l.Error != "no_route"
		case "connect_failure":
			bad = bad || l.Upstream != "broken" || l.Endpoint != dead || l.Error != "connect_failure"
		}
		if bad {
			t.Errorf("line %d (%s %+v):\n%+v", i+1, w.kind, w, l)
		}
	}
	waitForMetrics(t, p.admin, []string{"outrigger_access_log_dropped_total 0"}, "outrigger_access_log")

	// logrotate: rename, then SIGUSR1.
	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(p.logs.String(), `"msg":"access log reopened"`) },
		"the sidecar to log that it reopened the access log")
	for i := range 10 {
		send(t, client, "GET", p.listen["payments"], "", fmt.Sprintf("/after/%d", i), nil)
	}
	c, err := net.DialTimeout("tcp", p.listen["db"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := tcpRoundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	c.Close()

	after := readAccessLog(t, logPath, 11)
	seen := map[string]bool{}
	var tcp []accessLogLine
	for _, l := range after {
		if l.Upstream == "db" {
			tcp = append(tcp, l)
			continue
		}
		seen[l.Path] = true
	}
	for i := range 10 {
		if !seen[fmt.Sprintf("/after/%d", i)] {
			t.Errorf("no line for /after/%d in the new file", i)
		}
	}
	if len(tcp) != 1 || tcp[0].Method != "" || tcp[0].Path != "" || tcp[0].Status != 0 ||
		tcp[0].BytesIn != 5 || tcp[0].BytesOut != 5 || tcp[0].Endpoint != echo.addr() || tcp[0].Error != "" {
		t.Errorf("the TCP connection's lines: %+v", tcp)
	}
	if old := countLines(t, rotated); old != n {
		t.Errorf("the rotated file has %d lines, want %d", old, n)
	}
	if code := p.stop(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}
