package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLocalRepliesEndToEnd(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	hung := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	busy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, "upstream busy")
	})
	hungSrv := serve(t, hung)
	busySrv := serve(t, busy)
	consul := startConsul(t) // "empty" is discovered there and has no instances

	p := startSidecar(t, `service:
  name: web
admin:
  listen: 127.0.0.1:0
consul:
  address: `+consul.Addr()+`
upstreams:
  - name: stopped
    listen: 127.0.0.1:0
    connect_timeout: 500ms
    endpoints: ["`+closedAddr(t)+`"]
  - name: hanging
    listen: 127.0.0.1:0
    timeout: 300ms
    endpoints: ["`+hungSrv+`"]
  - name: empty
    listen: 127.0.0.1:0
  - name: busy
    listen: 127.0.0.1:0
    retries: {attempts: 0} # one try, so the backend's count is exact
    endpoints: ["`+busySrv+`"]
`)
	waitFor(t, 5*time.Second, func() bool {
		status, _, _ := getBodyNoFail("http://" + p.admin + "/ready")
		return status == 200
	}, "the empty upstream's first (empty) discovery result")
	cases := []struct {
		upstream string
		status   int
		reason   string
	}{
		{"stopped", 502, "connect_failure"},
		{"hanging", 504, "upstream_timeout"},
		{"empty", 503, "no_healthy_upstream"},
		{"busy", 503, ""}, // the upstream's own 503 passes through untagged
	}
	for _, c := range cases {
		start := time.Now()
		status, hdr, body := getBody(t, p.url(c.upstream, "/x"))
		if status != c.status || hdr.Get("X-Outrigger-Error") != c.reason {
			t.Errorf("%s: got %d %q (%q), want %d %q", c.upstream, status, hdr.Get("X-Outrigger-Error"), body, c.status, c.reason)
		}
		if c.upstream == "hanging" && time.Since(start) > 5*time.Second {
			t.Errorf("timeout took %v", time.Since(start))
		}
		if c.upstream == "busy" && body != "upstream busy" {
			t.Errorf("busy body %q", body)
		}
	}

	metrics := scrape(t, p.admin)
	for _, want := range []string{
		`outrigger_local_replies_total{reason="connect_failure",upstream="stopped"} 1`,
		`outrigger_local_replies_total{reason="upstream_timeout",upstream="hanging"} 1`,
		`outrigger_local_replies_total{reason="no_healthy_upstream",upstream="empty"} 1`,
		`outrigger_local_replies_total{reason="no_healthy_upstream",upstream="busy"} 0`,
		`outrigger_upstream_requests_total{code="503",endpoint="` + busySrv + `",upstream="busy"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Requests the sidecar refuses to parse get its own 400/431 with the
// bad_request code, and the connection is closed (no smuggling through).
func TestBadRequestsEndToEnd(t *testing.T) {
	backend := newInstance(t, "ok", 0)
	p := startSidecar(t, upstreamYAML("least_conn", "5s", backend.addr()))
	addr := p.listen["payments"]
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"headers over 64 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431},
		{"differing Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, c.raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("X-Outrigger-Error") != "bad_request" || !resp.Close {
			t.Errorf("%s: got %d %q close=%v", c.name, resp.StatusCode, resp.Header.Get("X-Outrigger-Error"), resp.Close)
		}
		conn.Close()
	}
	if n := backend.hits.Load(); n != 0 {
		t.Fatalf("backend saw %d requests; malformed ones must not be forwarded", n)
	}
	if m := scrape(t, p.admin); !strings.Contains(m, `outrigger_local_replies_total{reason="bad_request",upstream="payments"} 3`) {
		t.Fatalf("bad_request not counted 3 times:\n%s", grep(m, "local_replies"))
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	status, _, body := getBody(t, "http://"+admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	return body
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
