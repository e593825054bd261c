package h1

import (
	"net/http"
	"strings"
	"testing"
)

// TestSmuggling sends requests that front and back ends have historically
// parsed differently (HAProxy reg-tests/http-messaging/
// http_transfer_encoding.vtc, RFC 9112 §6.1 and §11.2) and checks that each
// gets the server's own tagged 400 (or 431), then a closed connection.
func TestSmuggling(t *testing.T) {
	const host = "Host: h\r\n"
	tests := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\n" + host + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400, reasonCLAndTE},
		{"TE and CL", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG", 400, reasonCLAndTE},
		{"TE chunked, chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, reasonBadTE},
		{"TE repeated", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, reasonBadTE},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, reasonBadTE},
		{"TE identity", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n", 400, reasonBadTE},
		{"TE xchunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n", 400, reasonBadTE},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, reasonTEInHTTP10},
		{"CL differing", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, reasonConflictingCL},
		{"CL list differing", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1, 2\r\n\r\nab", 400, reasonConflictingCL},
		{"CL sign", "POST / HTTP/1.1\r\n" + host + "Content-Length: +2\r\n\r\nab", 400, reasonBadCL},
		{"CL inner space", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\nab", 400, reasonBadCL},
		{"CL hex", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x2\r\n\r\nab", 400, reasonBadCL},
		{"bare LF in head", "GET / HTTP/1.1\r\nHost: h\nX-A: b\r\n\r\n", 400, reasonBareLF},
		{"bare LF request line", "GET / HTTP/1.1\n" + host + "\r\n", 400, reasonBareLF},
		{"bare LF in chunk size", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", 400, reasonChunkBareLF},
		{"chunk size overflow", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n10000000000000002\r\nab\r\n0\r\n\r\n", 400, reasonChunkSizeLarge},
		{"chunk-ext too long", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2;x=" + strings.Repeat("y", 5000) + "\r\nab\r\n0\r\n\r\n", 400, reasonChunkExtLong},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: b\r\n c\r\n\r\n", 400, reasonObsFold},
		{"obs-fold TE", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, reasonObsFold},
		{"space before colon", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, reasonSpaceBeforeColn},
		{"NUL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400, reasonFieldValue},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, reasonNoHost},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, reasonManyHosts},
		{"HTTP/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", 400, reasonVersion},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 400, reasonVersion},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, reasonVersion},
		{"bad method", "GE@T / HTTP/1.1\r\n" + host + "\r\n", 400, reasonMethod},
		{"space in target", "GET /a b HTTP/1.1\r\n" + host + "\r\n", 400, reasonTarget},
		{"headers too large", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", 431, reasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var bad badRequests
			handlerCalled := make(chan struct{}, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				handlerCalled <- struct{}{}
				// A proxy would forward the body; reading it is where a
				// chunked framing error shows up.
				if _, err := r.Body.Read(make([]byte, 64)); err == nil {
					for {
						if _, err := r.Body.Read(make([]byte, 64)); err != nil {
							break
						}
					}
				}
			})
			_, addr := startServer(t, h, func(s *Server) { s.OnBadRequest = bad.record })
			c := dial(t, addr)
			resp, body := c.do(tt.raw, "GET")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("X-Outrigger-Error"); got != "bad_request" {
				t.Errorf("X-Outrigger-Error = %q", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if !resp.Close {
				t.Error("no Connection: close")
			}
			if !strings.Contains(body, tt.reason) {
				t.Errorf("body %q does not name %q", body, tt.reason)
			}
			c.expectEOF()
			want := http.StatusText(tt.status) + ": " + tt.reason
			if got := bad.get(); len(got) != 1 || got[0] != want {
				t.Errorf("OnBadRequest calls %q, want [%q]", got, want)
			}
			if tt.status == 431 || !strings.Contains(tt.reason, "chunk") {
				select {
				case <-handlerCalled:
					t.Error("handler called for a rejected head")
				default:
				}
			}
		})
	}
}

func TestHeaderLimitOverTCP(t *testing.T) {
	_, addr := startServer(t, echoHandler())
	base := "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n"
	pad := func(n int) string {
		return strings.Replace(base, "X-Pad: ", "X-Pad: "+strings.Repeat("p", n-len(base)), 1)
	}
	c := dial(t, addr)
	if resp, _ := c.do(pad(64<<10), "GET"); resp.StatusCode != 200 {
		t.Fatalf("64 KiB head: status %d, want 200", resp.StatusCode)
	}
	resp, _ := c.do(pad(64<<10+1), "GET")
	if resp.StatusCode != 431 || resp.Header.Get("X-Outrigger-Error") != "bad_request" {
		t.Fatalf("64 KiB + 1 head: status %d", resp.StatusCode)
	}
	c.expectEOF()
}

func TestMalformedChunkedBodyAnsweredByHandler(t *testing.T) {
	// When the handler writes its own response after a body error, the
	// server does not add its own, but still closes the connection.
	var bad badRequests
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
		}
	}), func(s *Server) { s.OnBadRequest = bad.record })
	c := dial(t, addr)
	resp, _ := c.do("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n", "POST")
	if resp.StatusCode != http.StatusBadGateway || !resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
	c.expectEOF()
	if got := bad.get(); len(got) != 0 {
		t.Errorf("OnBadRequest called: %q", got)
	}
}
