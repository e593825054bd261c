package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// keepAliveClient sends GETs one after another on one raw keep-alive
// connection. net/http's Transport would hide the failures this test looks
// for: it silently resends an idempotent request when a reused connection
// turns out closed.
type keepAliveClient struct {
	addr string

	mu       sync.Mutex
	sent     int
	ok       int
	conns    int      // connections opened
	graceful []string // responses that said Connection: close
	failures []string // requests without a 200
}

func (k *keepAliveClient) counts() (sent, ok, conns int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sent, k.ok, k.conns
}

// run sends until stop is closed, max requests were sent, or within
// passed.
func (k *keepAliveClient) run(stop <-chan struct{}, max int, within time.Duration) {
	deadline := time.Now().Add(within)
	var c net.Conn
	var br *bufio.Reader
	onConn := 0
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 1; i <= max && time.Now().Before(deadline); i++ {
		select {
		case <-stop:
			return
		default:
		}
		if c == nil {
			nc, err := net.DialTimeout("tcp", k.addr, time.Second)
			k.mu.Lock()
			if err != nil {
				k.sent++
				k.failures = append(k.failures, fmt.Sprintf("request %d: dial: %v", i, err))
			} else {
				k.conns++
			}
			k.mu.Unlock()
			if err != nil {
				time.Sleep(10 * time.Millisecond) // do not spin on a refused port
				continue
			}
			c, br, onConn = nc, bufio.NewReader(nc), 0
		}
		onConn++
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(c, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n")
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		k.mu.Lock()
		k.sent++
		switch {
		case err != nil:
			k.failures = append(k.failures, fmt.Sprintf("request %d (#%d on connection %d): %v", i, onConn, k.conns, err))
		case resp.StatusCode != 200:
			k.failures = append(k.failures, fmt.Sprintf("request %d (#%d on connection %d): %s %s", i, onConn, k.conns, resp.Status, resp.Header.Get("X-Outrigger-Error")))
		default:
			k.ok++
		}
		if err == nil && resp.Close {
			k.graceful = append(k.graceful, fmt.Sprintf("request %d (#%d on connection %d)", i, onConn, k.conns))
		}
		k.mu.Unlock()
		if err != nil || resp.Close {
			c.Close()
			c = nil
		}
		// An application's pause between requests: the connection is idle
		// most of the time, as keep-alive connections are (creates the
		// condition; not a wait for state).
		time.Sleep(2 * time.Millisecond)
	}
}

// Ten reloads that change the upstream's lb while one keep-alive
// connection sends GETs: no request fails, and the connection carries on.
func TestReloadKeepsKeepAliveConnection(t *testing.T) {
	t.Parallel()
	backend := newInstance(t, "a", 0)
	listen := fixedPort(t)
	yaml := func(lb string) string {
		return reloadYAML(fmt.Sprintf("  - name: p\n    listen: %s\n    lb: %s\n    endpoints: [%q]\n", listen, lb, backend.addr()))
	}
	p := startSidecar(t, yaml("least_conn"))

	k := &keepAliveClient{addr: listen}
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	done := make(chan struct{})
	t.Cleanup(func() { halt(); <-done })
	go func() {
		defer close(done)
		k.run(stop, 20000, 40*time.Second)
	}()
	waitFor(t, 5*time.Second, func() bool { _, ok, _ := k.counts(); return ok >= 20 }, "the keep-alive client to run")

	lbs := [2]string{"round_robin", "least_conn"}
	for i := range 10 {
		lb := lbs[i%2]
		if err := os.WriteFile(p.configFile, []byte(yaml(lb)), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return p.upstreamLB("p") == lb }, fmt.Sprintf("reload %d (lb %s) to apply", i+1, lb))
		sent, _, _ := k.counts()
		waitFor(t, 5*time.Second, func() bool { s, _, _ := k.counts(); return s >= sent+20 }, "20 requests after the reload")
	}
	halt()
	<-done

	k.mu.Lock()
	defer k.mu.Unlock()
	t.Logf("%d requests, %d ok, %d connections; answers with Connection: close: %v", k.sent, k.ok, k.conns, k.graceful)
	if len(k.failures) > 0 {
		t.Errorf("%d of %d requests on the keep-alive connection failed across 10 reloads (%d connections opened); first ones:\n  %s",
			len(k.failures), k.sent, k.conns, strings.Join(k.failures[:min(len(k.failures), 5)], "\n  "))
	}
	if reused := k.sent - k.conns; k.sent < 200 || reused*10 < k.sent*9 {
		t.Errorf("keep-alive not exercised: %d requests on %d connections", k.sent, k.conns)
	}
}

// Small contract fixes, each checked end to end.
func TestSmallContractFixes(t *testing.T) {
	t.Parallel()

	// a: the upstream records request lines.
	lines := make(chan string, 16)
	connectUp := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		serveEach(br, func(r *rawRequest, _ int) bool {
			select {
			case lines <- r.Line:
			default:
			}
			_, err := io.WriteString(c, rawResponse("403 Forbidden", "no tunnels here"))
			return err == nil
		})
	})
	// b: the upstream answers with Content-Length and Transfer-Encoding
	// both, and records on which connection each request came.
	connOf := make(chan int, 16)
	clteUp := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, id int) {
		serveEach(br, func(*rawRequest, int) bool {
			select {
			case connOf <- id:
			default:
			}
			_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
			return err == nil
		})
	})
	// c: the backend records the trailer it received.
	trailers := make(chan string, 4)
	trailerBackend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		select {
		case trailers <- fmt.Sprintf("X-Checksum %q (body %q, err %v, Trailer %v)", r.Trailer.Get("X-Checksum"), b, err, r.Trailer):
		default:
		}
		io.WriteString(w, "got it")
	}))
	// d: the backend records X-Forwarded-For.
	xffs := make(chan []string, 4)
	xffBackend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case xffs <- r.Header.Values("X-Forwarded-For"):
		default:
		}
		io.WriteString(w, "ok")
	}))
	// f: the upstream sends its head and 10 of 1000 body bytes, then resets.
	resetUp := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		serveEach(br, func(*rawRequest, int) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
			// Let the sidecar take the head and start on the body before
			// the reset (creates the condition).
			time.Sleep(50 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0) // the close below sends RST
			return false
		})
	})
	plain := newInstance(t, "plain", 0)

	const once = "    retries: {attempts: 0}\n"
	p := startSidecar(t, hardeningYAML("",
		upstreamBlock("connect", "", connectUp.addr()),
		upstreamBlock("clte", once, clteUp.addr()),
		upstreamBlock("trailers", "", trailerBackend),
		upstreamBlock("xff", "", xffBackend),
		upstreamBlock("reset", once, resetUp.addr()),
		upstreamBlock("headers", "", plain.addr()),
	))
	addr := map[string]string{}
	for name, a := range p.listen {
		addr[name] = a
	}

	t.Run("connect_authority_form", func(t *testing.T) {
		t.Parallel()
		resp, body, err := rawExchange(addr["connect"], "CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		select {
		case line := <-lines:
			if line != "CONNECT example.com:443 HTTP/1.1" {
				t.Errorf("the upstream received request line %q, want %q (authority-form kept); the client got %s",
					line, "CONNECT example.com:443 HTTP/1.1", describe(resp, body, err))
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the CONNECT never reached the upstream; the client got %s", describe(resp, body, err))
		}
	})

	t.Run("cl_and_te_response", func(t *testing.T) {
		t.Parallel()
		resp, body, err := rawExchange(addr["clte"], "GET", "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil || resp.StatusCode != 502 || resp.Header.Get("X-Outrigger-Error") != "upstream_protocol_error" {
			t.Errorf("upstream response with both Content-Length and Transfer-Encoding: client got %s, want 502 upstream_protocol_error",
				describe(resp, body, err))
		}
		resp2, body2, err2 := rawExchange(addr["clte"], "GET", "GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
		var first, second int
		for i, dst := range []*int{&first, &second} {
			select {
			case *dst = <-connOf:
			case <-time.After(5 * time.Second):
				t.Fatalf("request %d never reached the upstream", i+1)
			}
		}
		if first == second {
			t.Errorf("the next request arrived on the same upstream connection (#%d) that sent Content-Length with Transfer-Encoding: it was pooled and reused (second answer %s)",
				first, describe(resp2, body2, err2))
		}
	})

	t.Run("request_trailers", func(t *testing.T) {
		t.Parallel()
		resp, body, err := rawExchange(addr["trailers"], "POST", "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("chunked request with a trailer: client got %s, want 200", describe(resp, body, err))
		}
		select {
		case got := <-trailers:
			if !strings.HasPrefix(got, `X-Checksum "abc"`) {
				t.Errorf("the backend saw %s, want X-Checksum \"abc\" in r.Trailer", got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the request never reached the backend")
		}
	})

	t.Run("xff_connection_listed", func(t *testing.T) {
		t.Parallel()
		resp, body, err := rawExchange(addr["xff"], "GET", "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: X-Forwarded-For\r\n\r\n")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("client got %s, want 200", describe(resp, body, err))
		}
		select {
		case got := <-xffs:
			if len(got) != 1 || got[0] != "127.0.0.1" {
				t.Errorf("the backend saw X-Forwarded-For %q, want exactly [\"127.0.0.1\"] (the client listed X-Forwarded-For in Connection, so its own value is hop-by-hop)", got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the request never reached the backend")
		}
	})

	t.Run("validate_bad_endpoint", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(file, []byte(upstreamYAML("least_conn", "5s", "bad host:80")), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(binary, "validate", "-c", file)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "upstreams[0].endpoints[0]") {
			t.Errorf("validate with endpoint \"bad host:80\": exit %d, output %q; want exit 2 and a message naming upstreams[0].endpoints[0]", code, out)
		}
	})

	t.Run("reset_before_head_flushed", func(t *testing.T) {
		t.Parallel()
		resp, body, err := rawExchange(addr["reset"], "GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil || resp.StatusCode != 502 || resp.Header.Get("X-Outrigger-Error") != "upstream_reset" {
			t.Errorf("upstream reset after its head and 10 of 1000 body bytes (the head still in the sidecar's buffer): client got %s, want 502 upstream_reset",
				describe(resp, body, err))
		}
	})

	t.Run("too_many_request_headers", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
		for i := range 150 {
			fmt.Fprintf(&b, "X-H%03d: v\r\n", i)
		}
		b.WriteString("\r\n")
		resp, body, err := rawExchange(addr["headers"], "GET", b.String())
		if err != nil || resp.StatusCode != 431 || resp.Header.Get("X-Outrigger-Error") != "bad_request" {
			t.Errorf("request with 150 header lines (max_request_headers 100): client got %s, want 431 bad_request (backend hits %d)",
				describe(resp, body, err), plain.hits.Load())
		}
	})
}
