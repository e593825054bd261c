package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Review of 21a5bf9 (per-connection reuse of the request, its header map
// and the ResponseWriter): an attacker's and a broken upstream's view.

// TestReviewStaleResponseWriterCannotReachNextResponse: a ResponseWriter
// kept past its handler's return (a late goroutine, a leaked reference)
// must fail with errAfterHandler — never write into the next request's
// answer on the connection. Since the connection reuses one response for
// every request, the stale writer is the next request's writer, and its
// bytes and headers land in the other answer.
func TestReviewStaleResponseWriterCannotReachNextResponse(t *testing.T) {
	var stale http.ResponseWriter
	var staleReq *http.Request
	lateErr := make(chan error, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first":
			stale, staleReq = w, r
			io.WriteString(w, "first")
		case "/second":
			// What a leaked goroutine of the first request does late. (Run
			// here, on the handler's goroutine, so the test is
			// deterministic and race-free.)
			stale.Header().Set("X-Leaked", "from-first")
			_, err := io.WriteString(stale, "LEAK")
			lateErr <- err
			io.WriteString(w, "second")
		}
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	io.WriteString(c, "GET /second HTTP/1.1\r\nHost: a\r\nX-Secret: second-only\r\n\r\n")
	resp, err = http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if err := <-lateErr; !errors.Is(err, errAfterHandler) {
		t.Errorf("a write through the first request's ResponseWriter after its handler returned: err = %v, want errAfterHandler", err)
	}
	if strings.Contains(string(body), "LEAK") || resp.Header.Get("X-Leaked") != "" {
		t.Errorf("the first request's late write reached the second answer: body %q, X-Leaked %q",
			body, resp.Header.Get("X-Leaked"))
	}
	// The same aliasing for the request: a handler (an async logger) that
	// kept the first *http.Request sees the second one's target and head.
	if staleReq.URL.Path != "/first" || staleReq.Header.Get("X-Secret") != "" {
		t.Errorf("the first request, kept past its handler, now reads as path %q with X-Secret %q (the next request's)",
			staleReq.URL.Path, staleReq.Header.Get("X-Secret"))
	}
}

// TestReviewPooledTLSConnectionKeepsNoStaleWriteDeadline: a request with a
// deadline, then one without, on one pooled TLS connection, with no stream
// idle timeout (0: none). quietTLS's check of the idle connection resets
// only the read deadline and marks the connection's deadline unset
// (armed = 0); arm, seeing no deadline to set for the next request and none
// armed, then sets none — and the first request's write deadline, now past,
// fails the second request's write at once.
func TestReviewPooledTLSConnectionKeepsNoStaleWriteDeadline(t *testing.T) {
	addr, cfg := tlsUpstream(t, func(c net.Conn) {
		readRequests(c, func(n int, r *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	cl := NewClient(ClientOptions{ConnectTimeout: time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 4,
		MaxInformational: 10, TLS: cfg}) // StreamIdleTimeout 0: none
	defer cl.Close()
	deadline := time.Now().Add(300 * time.Millisecond)
	ctx := scopedCtx{Context: context.Background(), deadline: deadline}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	resp, err := cl.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	// The state under test is the clock past the first request's deadline.
	<-time.After(time.Until(deadline) + 50*time.Millisecond)
	req, _ = http.NewRequest("GET", "http://"+addr+"/", nil)
	resp, err = cl.RoundTrip(req)
	if err != nil {
		t.Fatalf("a request without a deadline, on the pooled connection of one whose deadline passed: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "ok" {
		t.Fatalf("answer %q, %v", b, err)
	}
}

// TestReviewResponseReadAfterCloseGetsNothingOfTheNextAnswer: the client
// reuses one http.Response, body and reader per connection, and pools the
// connection at Close. A caller that reads (or closes again) the body of an
// answer it already closed — a deferred Close plus an explicit one, a
// logger reading late — is wrong, but net/http's bodies answer that with
// an error; here the stale body is the next answer's, so the stale reader
// takes the next request's bytes and a second Close kills the next
// request's connection. (Coverage of a hazard: the proxy closes each body
// once and touches nothing after.)
func TestReviewResponseReadAfterCloseGetsNothingOfTheNextAnswer(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		readRequests(c, func(n int, r *http.Request) bool {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-N: %d\r\n\r\nanswer%d", n, n)
			return true
		})
	})
	cl := testClient()
	defer cl.Close()
	req1, _ := http.NewRequest("GET", "http://"+addr+"/1", nil)
	resp1, err := cl.RoundTrip(req1)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp1.Body)
	resp1.Body.Close()

	req2, _ := http.NewRequest("GET", "http://"+addr+"/2", nil)
	resp2, err := cl.RoundTrip(req2)
	if err != nil {
		t.Fatal(err)
	}
	stale := make([]byte, 16)
	n, _ := resp1.Body.Read(stale)
	if n > 0 {
		t.Errorf("a read of the first answer's closed body returned %q (the second answer's)", stale[:n])
	}
	if resp1.Header.Get("X-N") != "0" {
		t.Errorf("the first answer's header now says X-N %q", resp1.Header.Get("X-N"))
	}
	resp1.Body.Close() // a second Close of the first body
	b, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || string(b) != "answer1" {
		t.Errorf("second answer %q, %v after the first body was read and closed again: want \"answer1\"", b, err)
	}
}
