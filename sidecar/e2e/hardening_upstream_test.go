package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hardening against misbehaving upstreams. The upstreams here are raw TCP
// servers writing hand-made bytes (rawUpstream): a real HTTP server cannot
// be made to break its own framing on demand.

// desyncYAML is one upstream with one endpoint whose breaker never opens
// and whose endpoint is never ejected: a fixed sidecar may answer many
// 502 upstream_protocol_error here, and this test is about what reaches
// the clients, not about the accounting.
func desyncYAML(endpoint string) string {
	return hardeningYAML("", upstreamBlock("payments", `    circuit_breaker:
      min_requests: 1024
    outlier:
      enabled: false
`, endpoint))
}

// tokenRequest sends one request carrying tok in X-Token and in
// Authorization (the upstream echoes both), and reads the whole answer.
func tokenRequest(client *http.Client, method, url, tok string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, url+"?t="+tok, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("X-Token", tok)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// echoCheck collects what is wrong with the answers to token requests.
type echoCheck struct {
	tokens *regexp.Regexp // finds every request token in a text

	mu       sync.Mutex
	answers  int
	leaks    []string // answers carrying another request's token
	other    []string // answers that are neither the own echo nor a refusal of a broken answer
	errs     []string // requests that failed outright
	protoErr int
}

// check records one answer to the request with token own. The own echo is
// a 200 carrying own in its body or in X-Echo (HEAD).
func (e *echoCheck) check(own string, resp *http.Response, body string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers++
	if err != nil {
		e.errs = append(e.errs, own+": "+err.Error())
		return
	}
	text := body
	for k, vv := range resp.Header {
		for _, v := range vv {
			text += "\n" + k + ": " + v
		}
	}
	for _, tok := range e.tokens.FindAllString(text, -1) {
		if tok != own {
			e.leaks = append(e.leaks, fmt.Sprintf("request %s got %s's data: %s, header %v", own, tok, describe(resp, body, nil), resp.Header))
			return
		}
	}
	switch {
	case resp.StatusCode == 502 && resp.Header.Get("X-Outrigger-Error") == "upstream_protocol_error",
		// A GET or HEAD whose answer broke framing is retried like a
		// reset; when every try breaks, the budget runs out.
		resp.StatusCode == 503 && resp.Header.Get("X-Outrigger-Error") == "retry_budget_exhausted":
		e.protoErr++
	case resp.StatusCode == 200 && (strings.Contains(body, own) || resp.Header.Get("X-Echo") == own):
	default:
		e.other = append(e.other, fmt.Sprintf("request %s: %s", own, describe(resp, body, nil)))
	}
}

func (e *echoCheck) report(t *testing.T) {
	t.Helper()
	first := func(s []string) []string { return s[:min(len(s), 5)] }
	if len(e.leaks) > 0 {
		t.Errorf("%d of %d answers carried another request's token (bytes the upstream sent beyond a response stayed on the pooled connection and became a later response); first ones:\n  %s",
			len(e.leaks), e.answers, strings.Join(first(e.leaks), "\n  "))
	}
	if len(e.other) > 0 {
		t.Errorf("%d of %d answers were neither the request's own echo nor a refusal (502 upstream_protocol_error, 503 retry_budget_exhausted); first ones:\n  %s",
			len(e.other), e.answers, strings.Join(first(e.other), "\n  "))
	}
	if len(e.errs) > 0 {
		t.Errorf("%d of %d requests failed; first ones:\n  %s", len(e.errs), e.answers, strings.Join(first(e.errs), "\n  "))
	}
	t.Logf("%d answers: %d leaks, %d refused as broken, %d other, %d errors",
		e.answers, len(e.leaks), e.protoErr, len(e.other), len(e.errs))
}

// echoOf is what the upstreams below echo for a request.
func echoOf(r *rawRequest) string {
	return fmt.Sprintf("token=%s auth=%s", r.Header.Get("X-Token"), r.Header.Get("Authorization"))
}

// An upstream that sends more than its Content-Length (a whole second
// response, echoing the request it answers, Authorization included) must
// not get those bytes delivered to a later request, possibly another
// client's.
func TestResponseDesyncThroughPool(t *testing.T) {
	t.Parallel()

	t.Run("appended_response", func(t *testing.T) {
		t.Parallel()
		up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			serveEach(br, func(r *rawRequest, _ int) bool {
				echo := echoOf(r)
				_, err := io.WriteString(c, rawResponse("200 OK", echo)+rawResponse("200 OK", "appended "+echo))
				return err == nil
			})
		})
		p := startSidecar(t, desyncYAML(up.addr()))
		url := p.url("payments", "/pay")

		check := &echoCheck{tokens: regexp.MustCompile(`Q\d{5}`)}
		keepAliveLoad(1000, 8, func(client *http.Client, i int64) {
			tok := fmt.Sprintf("Q%05d", i)
			resp, body, err := tokenRequest(client, "GET", url, tok)
			check.check(tok, resp, body, err)
		})
		check.report(t)
		t.Logf("the upstream saw %d connections", up.conns.Load())
	})

	// The extra response comes in a separate write 20 ms after the real
	// one: the connection is idle in the pool when the unsolicited bytes
	// land. One sequential client that waits until they were written:
	// with a request already sent on the connection, no proxy could tell
	// late bytes from the next answer.
	t.Run("late_unsolicited_bytes", func(t *testing.T) {
		t.Parallel()
		late := make(chan string, 256)
		up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			serveEach(br, func(r *rawRequest, _ int) bool {
				echo := echoOf(r)
				if _, err := io.WriteString(c, rawResponse("200 OK", echo)); err != nil {
					return false
				}
				time.Sleep(20 * time.Millisecond) // creates the condition: bytes arriving on an idle pooled connection
				_, err := io.WriteString(c, rawResponse("200 OK", "late "+echo))
				select {
				case late <- r.Header.Get("X-Token"):
				default:
				}
				return err == nil
			})
		})
		p := startSidecar(t, desyncYAML(up.addr()))
		url := p.url("payments", "/pay")
		client := &http.Client{Timeout: 10 * time.Second}
		check := &echoCheck{tokens: regexp.MustCompile(`R\d{5}`)}
		for i := 1; i <= 100; i++ {
			tok := fmt.Sprintf("R%05d", i)
			resp, body, err := tokenRequest(client, "GET", url, tok)
			check.check(tok, resp, body, err)
			// Wait until the upstream wrote the late bytes for this request.
			timeout := time.After(2 * time.Second)
		wait:
			for {
				select {
				case got := <-late:
					if got == tok {
						break wait
					}
				case <-timeout:
					break wait // a fixed sidecar may have closed the connection first
				}
			}
		}
		check.report(t)
	})

	// HEAD answered with a body: Content-Length: 20 and 20 bytes that are
	// the start of a response ("HTTP/1.1 200\r\nT:" and the HEAD's token),
	// which a desynchronised pool prepends to the next answer read there.
	t.Run("head_with_body", func(t *testing.T) {
		t.Parallel()
		up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			serveEach(br, func(r *rawRequest, _ int) bool {
				var out string
				if r.Method == http.MethodHead {
					frag := "HTTP/1.1 200\r\nT:" + r.Header.Get("X-Token") // 16 + 4 = 20 bytes
					out = "HTTP/1.1 200 OK\r\nX-Echo: " + r.Header.Get("X-Token") + "\r\nContent-Length: 20\r\n\r\n" + frag
				} else {
					out = rawResponse("200 OK", echoOf(r))
				}
				_, err := io.WriteString(c, out)
				return err == nil
			})
		})
		p := startSidecar(t, desyncYAML(up.addr()))
		url := p.url("payments", "/pay")

		const pairs, clients = 40, 8 // HEAD tokens Z001..Z320: 4 characters, so the fragment is 20 bytes
		check := &echoCheck{tokens: regexp.MustCompile(`S\d{5}|Z\d{3}`)}
		keepAliveLoad(pairs*clients, clients, func(client *http.Client, i int64) {
			head := fmt.Sprintf("Z%03d", i)
			resp, body, err := tokenRequest(client, http.MethodHead, url, head)
			check.check(head, resp, body, err)
			get := fmt.Sprintf("S%05d", i)
			resp, body, err = tokenRequest(client, http.MethodGet, url, get)
			check.check(get, resp, body, err)
		})
		check.report(t)
	})
}

// Response heads are bounded: a ~1 MiB head (max_response_header_bytes
// is 64 KiB by default) or more than 10 interim responses
// (max_informational_responses) is a 502 upstream_protocol_error; two 103
// Early Hints before the answer are fine.
func TestUpstreamHeadLimits(t *testing.T) {
	t.Parallel()
	bigHead := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		serveEach(br, func(*rawRequest, int) bool {
			var b strings.Builder
			b.WriteString("HTTP/1.1 200 OK\r\n")
			pad := strings.Repeat("a", 1000)
			for i := range 1024 {
				fmt.Fprintf(&b, "X-Pad-%04d: %s\r\n", i, pad)
			}
			b.WriteString("Content-Length: 2\r\n\r\nok")
			_, err := io.WriteString(c, b.String())
			return err == nil
		})
	})
	hints := func(n int) *rawUpstream {
		return newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			serveEach(br, func(*rawRequest, int) bool {
				out := strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", n) +
					rawResponse("200 OK", "final")
				_, err := io.WriteString(c, out)
				return err == nil
			})
		})
	}
	many, two := hints(20), hints(2)
	const once = "    retries: {attempts: 0}\n"
	p := startSidecar(t, hardeningYAML("",
		upstreamBlock("bighead", once, bigHead.addr()),
		upstreamBlock("hints20", once, many.addr()),
		upstreamBlock("hints2", once, two.addr())))
	urls := map[string]string{}
	for _, name := range []string{"bighead", "hints20", "hints2"} {
		urls[name] = p.url(name, "/x")
	}

	t.Run("huge_head", func(t *testing.T) {
		t.Parallel()
		status, hdr, body := getBody(t, urls["bighead"])
		if status != 502 || hdr.Get("X-Outrigger-Error") != "upstream_protocol_error" {
			t.Errorf("upstream head of ~1 MiB (1024 headers of 1 KB): got %d X-Outrigger-Error %q body %q (%d headers passed on), want 502 upstream_protocol_error",
				status, hdr.Get("X-Outrigger-Error"), body, len(hdr))
		}
	})
	t.Run("too_many_interim", func(t *testing.T) {
		t.Parallel()
		status, hdr, body := getBody(t, urls["hints20"])
		if status != 502 || hdr.Get("X-Outrigger-Error") != "upstream_protocol_error" {
			t.Errorf("20 × 103 Early Hints then 200: got %d X-Outrigger-Error %q body %q, want 502 upstream_protocol_error",
				status, hdr.Get("X-Outrigger-Error"), body)
		}
	})
	t.Run("two_interim_ok", func(t *testing.T) {
		t.Parallel()
		status, hdr, body := getBody(t, urls["hints2"])
		if status != 200 || body != "final" {
			t.Errorf("2 × 103 Early Hints then 200: got %d X-Outrigger-Error %q body %q, want 200 \"final\"",
				status, hdr.Get("X-Outrigger-Error"), body)
		}
	})
}

// With retries off, a POST whose pooled connection the upstream closes
// after reading the request (without answering) reached the upstream: it
// must not be sent again on a fresh connection. The client gets 502
// upstream_reset.
func TestNonIdempotentSentOnce(t *testing.T) {
	t.Parallel()
	var charges atomic.Int64
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		serveEach(br, func(r *rawRequest, n int) bool {
			if r.Method == http.MethodPost && r.Target == "/charge" {
				charges.Add(1)
			}
			if n == 0 {
				_, err := io.WriteString(c, rawResponse("200 OK", "charged"))
				return err == nil
			}
			// The second request on a connection: read in full and
			// counted; the connection now closes unanswered.
			return false
		})
	})
	p := startSidecar(t, hardeningYAML("", upstreamBlock("payments", "    retries: {attempts: 0}\n", up.addr())))

	if status, _, body := getBody(t, p.url("payments", "/warm")); status != 200 {
		t.Fatalf("warm-up GET: %d %q", status, body)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(p.url("payments", "/charge"), "", nil) // Content-Length: 0
	var status int
	var code, body string
	if err != nil {
		t.Errorf("POST /charge: %v, want 502 upstream_reset", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, code, body = resp.StatusCode, resp.Header.Get("X-Outrigger-Error"), string(b)
	}
	if n := charges.Load(); n != 1 {
		t.Errorf("the upstream received POST /charge %d times (retries.attempts: 0; the request was read in full on the pooled connection before it closed), want exactly 1; the client got %d, X-Outrigger-Error %q, body %q",
			n, status, code, body)
	}
	if err == nil && (status != 502 || code != "upstream_reset") {
		t.Errorf("POST /charge: got %d X-Outrigger-Error %q body %q, want 502 upstream_reset", status, code, body)
	}
	t.Logf("upstream connections: %d", up.conns.Load())
}

// A backend that refuses a WebSocket handshake with 403 and a body: the
// client gets exactly that, the sidecar keeps serving, nothing stays
// active, and nothing panics.
func TestWebSocketRefusedHandshake(t *testing.T) {
	t.Parallel()
	const refusal = "websocket refused: no ticket"
	backend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, refusal)
			return
		}
		io.WriteString(w, "plain")
	}))
	p := startSidecar(t, hardeningYAML("", upstreamBlock("payments", "", backend)))
	addr := p.listen["payments"]

	resp, body, err := rawExchange(addr, "GET", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil || resp.StatusCode != 403 || body != refusal {
		t.Errorf("refused WebSocket handshake: got %s, want 403 body %q", describe(resp, body, err), refusal)
	}
	if status, _, body := getBody(t, p.url("payments", "/next")); status != 200 || body != "plain" {
		t.Errorf("GET after the refused handshake: %d %q, want 200 \"plain\"", status, body)
	}
	if !pollUntil(3*time.Second, func() bool { return p.upstreamActive("payments") == 0 }) {
		t.Errorf("/upstreams: payments active_requests = %d 3s after the refused handshake, want 0", p.upstreamActive("payments"))
	}
	if logs := p.logs.String(); strings.Contains(logs, "panic") {
		lines := grep(logs, "panic")
		t.Errorf("the sidecar logged a panic:\n%s", lines[:min(len(lines), 700)])
	}
}

// keepAliveLoad runs do n times (i = 1..n) from clients goroutines, each
// with its own keep-alive connection to reuse, bounded by 30 s.
func keepAliveLoad(n int64, clients int, do func(client *http.Client, i int64)) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= n && time.Now().Before(deadline); i = next.Add(1) {
				do(client, i)
			}
		})
	}
	wg.Wait()
}
