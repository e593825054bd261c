package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// responseSeeds are answers an upstream may send: ordinary ones and the
// framing tricks that desynchronise proxies.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
	"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1  200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx",
}

// FuzzReadResponse: what an upstream sends is untrusted. Reading an
// answer never panics; a parsed answer never has both a length and
// chunked framing, nor a Content-Length field next to chunked coding.
func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		resp, body, _, err := ourResponse(raw, head)
		if err != nil {
			return
		}
		if len(resp.TransferEncoding) > 0 && resp.ContentLength >= 0 {
			t.Fatalf("both framings: %q", raw)
		}
		if resp.Header.Get("Content-Length") != "" && len(resp.TransferEncoding) > 0 {
			t.Fatalf("Content-Length kept next to chunked: %q", raw)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 {
			t.Fatalf("status %d: %q", resp.StatusCode, raw)
		}
		_ = body
	})
}

// FuzzResponseDifferential feeds the same bytes to the client's response
// reader and to net/http's ReadResponse (the reader Go's own client
// trusts) and fails where they disagree in a way that could desynchronise
// a pooled connection:
//
//   - the client accepts an answer (head and body) that net/http refuses;
//   - both accept it, but they differ on the status, on the body, or on
//     where the answer ends (how many bytes it consumed).
//
// The client refusing what net/http accepts is fine: it is stricter on
// purpose, and a refused answer's connection is closed. The deliberate
// differences (all refusals by the client) are documented in
// docs/proxying.md, "Answers the sidecar refuses": bare LF line ends,
// obs-fold, whitespace before a colon, leading empty lines, a 101 that was
// not asked for, Transfer-Encoding in an HTTP/1.0 answer, both
// Content-Length and Transfer-Encoding, status codes below 100, HTTP
// versions other than 1.0 and 1.1, and more 1xx answers or head bytes than
// the limits allow.
func FuzzResponseDifferential(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		ours, ourBody, ourUsed, ourErr := ourResponse(raw, head)
		theirs, theirBody, theirUsed, theirErr := stdResponse(raw, head)
		if ourErr != nil {
			return // stricter is allowed
		}
		if theirErr != nil {
			t.Fatalf("accepted what net/http refuses (%v):\n%q", theirErr, raw)
		}
		if ours.StatusCode != theirs.StatusCode {
			t.Fatalf("status %d, net/http %d:\n%q", ours.StatusCode, theirs.StatusCode, raw)
		}
		if ourBody != theirBody {
			t.Fatalf("body %q, net/http %q:\n%q", ourBody, theirBody, raw)
		}
		if ourUsed != theirUsed {
			t.Fatalf("consumed %d bytes, net/http %d:\n%q", ourUsed, theirUsed, raw)
		}
	})
}

// ourResponse reads raw as the client would answer a GET (or a HEAD):
// the head, then the body to its end. used is how many bytes of raw the
// answer took.
func ourResponse(raw string, head bool) (resp *http.Response, body string, used int, err error) {
	sr := strings.NewReader(raw)
	br := bufio.NewReaderSize(sr, 4096)
	c := &upConn{br: br}
	cl := NewClient(ClientOptions{MaxInformational: 10})
	req, _ := http.NewRequest(method(head), "http://x/", nil)
	resp, b, err := cl.readResponse(c, req)
	if err != nil {
		return nil, "", 0, err
	}
	if b.tunnel {
		return nil, "", 0, errors.New("tunnel") // compared no further: the connection is not reused
	}
	if !b.none {
		data, err := io.ReadAll(b.r)
		if err != nil {
			return nil, "", 0, err
		}
		body = string(data)
	}
	return resp, body, len(raw) - sr.Len() - br.Buffered(), nil
}

// stdResponse is the same with net/http, skipping interim answers as its
// client does.
func stdResponse(raw string, head bool) (resp *http.Response, body string, used int, err error) {
	sr := strings.NewReader(raw)
	br := bufio.NewReaderSize(sr, 4096)
	req, _ := http.NewRequest(method(head), "http://x/", nil)
	for {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return nil, "", 0, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", 0, err
	}
	return resp, string(data), len(raw) - sr.Len() - br.Buffered(), nil
}

func method(head bool) string {
	if head {
		return http.MethodHead
	}
	return http.MethodGet
}
