package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers of the hardening tests: upstreams and clients that misbehave on
// purpose. Real servers and clients (net/http, httptest) cannot be made to
// break HTTP/1.1 framing on demand, so these speak hand-written bytes over
// plain loopback TCP.

// rawUpstream is a loopback TCP server whose connections are handled by a
// test function that writes whatever bytes it wants.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int64 // connections accepted so far

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
}

// newRawUpstream serves every accepted connection with serve(c, br, id),
// id counting connections from 1. The connection is closed when serve
// returns; at cleanup the listener and every connection are closed and
// the handlers waited for (serve must return once its connection is
// closed, and must not block on anything else unboundedly).
func newRawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader, id int)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, open: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !u.track(c) {
				c.Close()
				return
			}
			id := int(u.conns.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer u.untrack(c)
				serve(c, bufio.NewReader(c), id)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		u.closed = true
		for c := range u.open {
			c.Close()
		}
		u.mu.Unlock()
		wg.Wait()
	})
	return u
}

func (u *rawUpstream) addr() string { return u.ln.Addr().String() }

func (u *rawUpstream) track(c net.Conn) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	u.open[c] = struct{}{}
	return true
}

func (u *rawUpstream) untrack(c net.Conn) {
	c.Close()
	u.mu.Lock()
	delete(u.open, c)
	u.mu.Unlock()
}

// rawRequest is one request as an upstream received it.
type rawRequest struct {
	Line    string // the request line, exactly as received
	Method  string
	Target  string
	Header  http.Header
	Body    []byte
	Trailer http.Header // chunked requests only
}

// readRawRequest reads one request (head, and a Content-Length or chunked
// body with its trailer section) from br.
func readRawRequest(br *bufio.Reader) (*rawRequest, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed request line %q", line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	r := &rawRequest{Line: line, Method: parts[0], Target: parts[1], Header: http.Header(mh)}
	switch {
	case strings.EqualFold(r.Header.Get("Transfer-Encoding"), "chunked"):
		if r.Body, err = io.ReadAll(httputil.NewChunkedReader(br)); err != nil {
			return nil, err
		}
		// The chunked reader stops after the last chunk's size line; the
		// trailer section (possibly empty) follows.
		tr, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, err
		}
		r.Trailer = http.Header(tr)
	case r.Header.Get("Content-Length") != "":
		n, err := strconv.Atoi(r.Header.Get("Content-Length"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad Content-Length %q", r.Header.Get("Content-Length"))
		}
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// serveEach reads requests from one connection and calls answer for each,
// with its index on the connection (from 0), until a read fails or answer
// returns false.
func serveEach(br *bufio.Reader, answer func(r *rawRequest, n int) bool) {
	for n := 0; n < 1_000_000; n++ {
		r, err := readRawRequest(br)
		if err != nil {
			return
		}
		if !answer(r, n) {
			return
		}
	}
}

// rawResponse renders a complete, well-formed response with a
// Content-Length body.
func rawResponse(status, body string) string {
	return fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
}

// rawExchange sends raw bytes on a fresh connection to addr and reads one
// response (as the answer to a request of method, for framing) and its
// body, all within 5 s. err is what the client saw if no complete response
// came (EOF: the connection was closed without one).
func rawExchange(addr, method, raw string) (resp *http.Response, body string, err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, "", err
	}
	resp, err = http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// describe renders a response for failure messages.
func describe(resp *http.Response, body string, err error) string {
	if err != nil {
		return "no response: " + err.Error()
	}
	s := fmt.Sprintf("%d", resp.StatusCode)
	if code := resp.Header.Get("X-Outrigger-Error"); code != "" {
		s += " X-Outrigger-Error: " + code
	}
	if len(body) > 120 {
		body = body[:120] + "..."
	}
	return fmt.Sprintf("%s body %q", s, body)
}

// upstreamBlock renders one item of `upstreams:`; extra holds more keys,
// each line indented by four spaces.
func upstreamBlock(name, extra string, endpoints ...string) string {
	quoted := make([]string, len(endpoints))
	for i, e := range endpoints {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return fmt.Sprintf("  - name: %s\n    listen: 127.0.0.1:0\n    endpoints: [%s]\n%s", name, strings.Join(quoted, ", "), extra)
}

// hardeningYAML renders a config: top holds top-level keys (drain_timeout),
// then the given upstream blocks.
func hardeningYAML(top string, blocks ...string) string {
	return "service:\n  name: web\nadmin:\n  listen: 127.0.0.1:0\n" + top + "upstreams:\n" + strings.Join(blocks, "")
}

// upstreamActive is /upstreams' active_requests of one upstream.
func (p *sidecarProc) upstreamActive(name string) int64 {
	p.t.Helper()
	for _, u := range p.upstreams().Upstreams {
		if u.Name == name {
			return u.ActiveRequests
		}
	}
	p.t.Fatalf("no upstream %s in /upstreams", name)
	return 0
}

// pollUntil polls cond every 10 ms until it holds or within passes, and
// reports whether it held (for checks that must report rather than stop).
func pollUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	return true
}

// openFDs counts the descriptors process pid has open (Linux /proc).
func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}
