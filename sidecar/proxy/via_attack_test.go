package proxy

// Review tests (routing listeners): strip_prefix must not change what the
// matched path means. Each test states the expectation the contract
// implies; a failure is a finding.

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/h2c"
)

// rawGet sends one request with target as it is (no client-side cleaning)
// and returns the status line.
func rawGet(t *testing.T, base, target string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// A prefix matched through a percent-encoded character ("/ap%69/" is
// "/api/" decoded) makes rewrite drop RawPath, so an encoded slash after
// the prefix ("a%2Fb": one segment) is forwarded as a real separator
// ("a/b": two segments). The same request without the encoded "i" keeps
// "%2F" (TestViaStripsPrefixAndCountsStatus).
func TestAttackStripKeepsEncodedSlashAfterEncodedPrefix(t *testing.T) {
	seen := make(chan string, 1)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) { seen <- r.RequestURI })
	url := viaFront(t, &Via{Listener: "edge", Route: "api", StripPrefix: "/api/"}, be)
	if line := rawGet(t, url, "/ap%69/files/a%2Fb"); !strings.Contains(line, " 200 ") {
		t.Fatalf("status line %q", line)
	}
	if got := <-seen; got != "/files/a%2Fb" {
		t.Errorf("/ap%%69/files/a%%2Fb forwarded as %s, want /files/a%%2Fb (the encoded slash turned into a separator)", got)
	}
}

// With a prefix that does not end in "/", stripping can create the dot
// segment the routing listener refuses before matching: "/api../admin" has
// none, but is forwarded as "/../admin", which an endpoint resolves to
// "/admin". (It can also forward "//host/x", a network-path reference
// to some frameworks.)
func TestAttackStripCreatesDotSegment(t *testing.T) {
	seen := make(chan string, 2)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) { seen <- r.RequestURI })
	url := viaFront(t, &Via{Listener: "edge", Route: "api", StripPrefix: "/api"}, be)
	for _, target := range []string{"/api../admin", "/api//evil.example/x"} {
		line := rawGet(t, url, target)
		if !strings.Contains(line, " 200 ") {
			t.Logf("%s: %q (refused: fine)", target, line)
			continue
		}
		got := <-seen
		if strings.HasPrefix(got, "//") || strings.Contains(got+"/", "/../") || strings.Contains(got+"/", "/./") {
			t.Errorf("%s forwarded as %s: the stripped path has a dot segment or starts with //", target, got)
		}
	}
}

// A routing listener of protocol http2 in front of an http upstream: the
// upstream's handler is the one its own http listener uses (tunnels on),
// so an HTTP/2 CONNECT, which protocol http2 answers 400 bad_request
// (docs/lifecycle.md, "Tunnels"), is sent on to an endpoint as
// "CONNECT <client's :authority>" instead. (The router sends a CONNECT,
// whose path is empty, to any route that takes "/".)
func TestAttackH2ConnectReachesAnHTTPUpstream(t *testing.T) {
	be, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	lines := make(chan string, 1)
	go func() {
		c, err := be.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		line, _, _ := strings.Cut(string(b[:n]), "\r\n")
		lines <- line
		io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n")
		io.Copy(io.Discard, c)
	}()
	cfg := config.Upstream{Name: "web", LB: "round_robin", ConnectTimeout: time.Second,
		Timeout: 5 * time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 8}
	up := staticUpstream(t, cfg, be.Addr().String())
	h := NewHandler(up, newClient(cfg), Options{Tunnels: true})
	via := &Via{Listener: "edge", Route: "any"}
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeVia(w, r, via) })
	srv := h2c.NewServer(front, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	req, _ := http.NewRequest(http.MethodConnect, "http://"+ln.Addr().String(), nil)
	req.Host = "internal.example:22"
	resp, err := h2cClient(t).Do(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
		resp.Body.Close()
	}
	if status != http.StatusBadRequest {
		t.Errorf("status %d (err %v), want 400", status, err)
	}
	// The local reply comes before any attempt: had the endpoint been
	// sent the CONNECT, its line would be waiting by now (it answered).
	select {
	case line := <-lines:
		t.Errorf("the endpoint got %q; want nothing sent", line)
	default:
	}
}
