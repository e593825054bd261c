package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A request refused with 429 rate_limited is answered without its body
// being read. On a kept-alive connection the bytes of that body must not
// be taken for the next request (a body that spells a request is a
// smuggling attempt), and pipelined requests after it are each limited in
// turn: the endpoint sees only the one request the bucket let through.
func TestRateLimitedBodyIsNotANextRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	s, err := New(attackConfig(t, `
service: {name: attack}
admin: {listen: 127.0.0.1:0}
drain_timeout: 1s
upstreams:
  - name: web
    listen: 127.0.0.1:0
    endpoints: ["`+strings.TrimPrefix(be.URL, "http://")+`"]
    rate_limit: {requests_per_second: 0.001, burst: 1}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	runSidecar(t, s)
	addr := s.Upstreams()[0].ListenAddr()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	_, err = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(smuggled))+"\r\n\r\n"+smuggled+
		"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var codes []int
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break // the sidecar may close after a refusal whose body it did not read
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("a 429 without Retry-After")
		}
	}
	if len(codes) < 2 || codes[0] != 200 || codes[1] != 429 {
		t.Fatalf("statuses %v, want 200, 429[, 429]", codes)
	}
	for _, code := range codes[1:] {
		if code != 429 {
			t.Errorf("statuses %v: only the first request had a token", codes)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "/first" {
		t.Fatalf("the endpoint saw %v, want only /first", seen)
	}
}
