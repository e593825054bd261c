package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Hardening against hostile or broken clients. The clients here write raw
// bytes on TCP connections: net/http's client never stalls mid-body,
// half-closes, or sends a malformed chunk on purpose.

// dialRaw connects to addr and writes raw; the connection is closed at
// cleanup.
func dialRaw(t *testing.T, addr, raw string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A client that stops sending its body, or stops reading its response,
// is cut off after the upstream's timeout (2s here; stream_idle_timeout is
// 5m), and it is not held against the endpoint.
func TestStalledClientCutOff(t *testing.T) {
	t.Parallel()
	const cutWithin = 8 * time.Second
	// Content-Length 1000, 10 bytes sent, then nothing (the socket stays open).
	const stalledUpload = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789"
	block := func(endpoint string) string { return upstreamBlock("payments", "    timeout: 2s\n", endpoint) }

	t.Run("stalled_upload", func(t *testing.T) {
		t.Parallel()
		backend := newInstance(t, "ok", 0)
		p := startSidecar(t, hardeningYAML("", block(backend.addr())))
		c := dialRaw(t, p.listen["payments"], stalledUpload)
		waitFor(t, 5*time.Second, func() bool { return p.upstreamActive("payments") == 1 }, "the stalled upload to be in flight")
		start := time.Now()
		c.SetReadDeadline(start.Add(cutWithin))
		got, err := io.ReadAll(c) // until the sidecar closes (EOF or reset) or the deadline
		if isTimeout(err) {
			t.Errorf("a client stalled mid-upload (10 of 1000 body bytes) still had its connection open %v later (upstream timeout 2s); it got %q",
				cutWithin, got)
		} else {
			t.Logf("connection closed after %v (%v); the client got %q", time.Since(start).Round(time.Millisecond), err, got)
		}
		if !pollUntil(2*time.Second, func() bool { return p.upstreamActive("payments") == 0 }) {
			t.Errorf("/upstreams: payments active_requests = %d %v after the stall began, want 0",
				p.upstreamActive("payments"), time.Since(start).Round(time.Second))
		}
		if e := p.endpointView("payments", backend.addr()); e.Failures != 0 {
			t.Errorf("endpoint %s failures = %d, want 0 (the client stalled, not the endpoint)", e.Address, e.Failures)
		}
	})

	t.Run("unread_download", func(t *testing.T) {
		t.Parallel()
		const size = 64 << 20
		backend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			buf := make([]byte, 32<<10)
			for range size / len(buf) {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}))
		p := startSidecar(t, hardeningYAML("", block(backend)))
		c := dialRaw(t, p.listen["payments"], "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadBuffer(4 << 10) // the client never reads: let its window fill fast
		waitFor(t, 5*time.Second, func() bool { return p.upstreamActive("payments") == 1 }, "the download to be in flight")
		start := time.Now()
		if !pollUntil(cutWithin, func() bool { return p.upstreamActive("payments") == 0 }) {
			t.Errorf("a client that never reads its 64 MiB response still holds the request %v later: payments active_requests = %d (upstream timeout 2s)",
				cutWithin, p.upstreamActive("payments"))
		} else {
			t.Logf("request ended after %v", time.Since(start).Round(time.Millisecond))
		}
		e := p.endpointView("payments", backend)
		if e.Failures != 0 {
			t.Errorf("endpoint %s failures = %d, want 0 (the client stalled, not the endpoint)", e.Address, e.Failures)
		}
		if b := p.breakerState("payments"); b != "closed" {
			t.Errorf("breaker %q, want closed", b)
		}
	})

	t.Run("drain", func(t *testing.T) {
		t.Parallel()
		backend := newInstance(t, "ok", 0)
		p := startSidecar(t, hardeningYAML("drain_timeout: 30s\n", block(backend.addr())))
		dialRaw(t, p.listen["payments"], stalledUpload)
		waitFor(t, 5*time.Second, func() bool { return p.upstreamActive("payments") == 1 }, "the stalled upload to be in flight")
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
			t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
		case <-time.After(cutWithin):
			t.Errorf("SIGTERM with a client stalled mid-upload: outrigger still running %v later (drain_timeout 30s, upstream timeout 2s): the drain waits for the stalled request", cutWithin)
		}
	})
}

// A chunked request body with a bad chunk-size line is the client's fault:
// 400 bad_request (or a closed connection), never a 502, and the endpoint
// is neither blamed, ejected nor breaker-tripped.
func TestMalformedChunkedBodyNotBlamed(t *testing.T) {
	t.Parallel()
	backend := newInstance(t, "ok", 0)
	p := startSidecar(t, hardeningYAML("", upstreamBlock("payments", `    outlier:
      consecutive_local_failure: 5
    circuit_breaker:
      min_requests: 10
`, backend.addr())))
	addr := p.listen["payments"]
	// A valid first chunk, then a chunk-size line that is not hex.
	const bad = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"

	outcomes := map[string]int{}
	var wrong []string
	for i := range 30 {
		resp, body, err := rawExchange(addr, "POST", bad)
		switch {
		case err != nil && resp == nil && !isTimeout(err):
			outcomes["connection closed"]++
		case err == nil && resp.StatusCode == 400 && resp.Header.Get("X-Outrigger-Error") == "bad_request":
			outcomes["400 bad_request"]++
		default:
			d := describe(resp, body, err)
			if resp != nil {
				d = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("X-Outrigger-Error"))
			}
			outcomes[d]++
			wrong = append(wrong, fmt.Sprintf("request %d: %s", i+1, describe(resp, body, err)))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of 30 malformed chunked requests were not answered 400 bad_request (or closed); outcomes %v; first ones:\n  %s",
			len(wrong), outcomes, strings.Join(wrong[:min(len(wrong), 3)], "\n  "))
	}
	e := p.endpointView("payments", backend.addr())
	if e.Failures != 0 || e.Ejected {
		t.Errorf("the healthy endpoint was blamed for the clients' malformed bodies: failures %d, ejected %v (reason %q), want 0 and false",
			e.Failures, e.Ejected, e.EjectionReason)
	}
	if b := p.breakerState("payments"); b != "closed" {
		t.Errorf("breaker %q after 30 malformed client bodies, want closed", b)
	}
	if status, hdr, body := getBody(t, p.url("payments", "/")); status != 200 {
		t.Errorf("a normal GET afterwards: %d X-Outrigger-Error %q body %q, want 200", status, hdr.Get("X-Outrigger-Error"), body)
	}
}

// A client that half-closes after 3 of its 10 declared body bytes must not
// be told 200: either 400 or a close without a response. Both with the
// body read up front (retries on, body <= 64 KiB) and streamed (retries
// off).
func TestHalfCloseMidUploadNo200(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, extra string }{
		{"retries_default", ""},
		{"retries_off", "    retries: {attempts: 0}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			backend := newInstance(t, "ok", 0)
			p := startSidecar(t, hardeningYAML("", upstreamBlock("payments", tc.extra, backend.addr())))
			c := dialRaw(t, p.listen["payments"], "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			firstLine, _, _ := strings.Cut(string(got), "\r\n")
			switch {
			case bytes.HasPrefix(got, []byte("HTTP/1.1 200")):
				t.Errorf("half-closed after 3 of 10 body bytes, the client was told %q: a 200 for a request that never arrived whole (full answer %q; backend hits %d)",
					firstLine, got, backend.hits.Load())
			case isTimeout(err):
				t.Errorf("no answer and no close within 5s of the half-close (got %q)", got)
			case len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 400")):
				t.Errorf("got %q, want a 400 or a close without a response", firstLine)
			default:
				t.Logf("got %q (%v)", firstLine, err)
			}
		})
	}
}

// The accept loop survives running out of descriptors: connections beyond
// the limit wait, and once descriptors are free again new connections are
// served.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	t.Parallel()
	backend := newInstance(t, "ok", 0)
	p := startSidecar(t, hardeningYAML("", upstreamBlock("payments", "", backend.addr())))
	addr := p.listen["payments"]
	url := p.url("payments", "/")
	if status, _, body := getBody(t, url); status != 200 {
		t.Fatalf("GET before the limit: %d %q", status, body)
	}

	// Lower the running process's descriptor limit to a little above what
	// it has open (a process may lower its own soft limit; so may we, as
	// its owner, with prlimit(2)).
	pid := p.cmd.Process.Pid
	open, err := openFDs(pid)
	if err != nil {
		t.Skipf("cannot count the sidecar's descriptors: %v", err)
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	limit := open + 24
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(limit), Max: old.Max}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	t.Logf("sidecar has %d descriptors open; limit set to %d", open, limit)

	// Hold more idle connections than the sidecar can accept; the kernel
	// queues the rest in the listen backlog, so every dial succeeds.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range limit + 16 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(held)+1, err)
		}
		held = append(held, c)
	}
	if !pollUntil(5*time.Second, func() bool { n, _ := openFDs(pid); return n >= limit }) {
		n, _ := openFDs(pid)
		t.Fatalf("the sidecar did not run out of descriptors: %d open, limit %d, %d connections held", n, limit, len(held))
	}
	// Keep the pressure on briefly so the accept loop surely hits EMFILE
	// on the queued connections (creates the condition; not a wait for state).
	time.Sleep(300 * time.Millisecond)
	for _, c := range held {
		c.Close()
	}
	held = nil

	var last string
	start := time.Now()
	ok := pollUntil(8*time.Second, func() bool {
		client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		return resp.StatusCode == 200
	})
	if !ok {
		n, _ := openFDs(pid)
		t.Errorf("after running out of descriptors (limit %d) and getting them back (%d open now), no GET succeeded within 8s; last: %s — the listener no longer accepts",
			limit, n, last)
	} else {
		t.Logf("served again %v after the pressure ended", time.Since(start).Round(time.Millisecond))
	}
}
