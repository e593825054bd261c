package h1

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// A connection reuses its context, head buffer and the head's header
// snapshot between requests: nothing of one request may show in the next —
// not a header field, not a response header the handler set, not the end
// of a context.
func TestReusedStateDoesNotLeakBetweenRequests(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keys []string
		for k, vv := range r.Header {
			keys = append(keys, k+"="+strings.Join(vv, ","))
		}
		sort.Strings(keys)
		if r.Header.Get("X-Set") != "" {
			w.Header().Set("X-Only-Once", "yes")
		}
		if r.Context().Err() != nil {
			w.Header().Set("X-Ctx", r.Context().Err().Error())
		}
		w.Header().Set("X-Path", r.URL.Path)
		fmt.Fprint(w, r.Method, " ", r.URL.Path, " ", r.ContentLength, " ", strings.Join(keys, ";"))
	})
	_, addr := startServer(t, handler)
	c := dial(t, addr)

	many := strings.Builder{}
	for i := range 74 { // many fields
		fmt.Fprintf(&many, "X-F%d: %d\r\n", i, i)
	}
	steps := []struct {
		raw, want    string
		onlyOnce     bool
		responsePath string
	}{
		{"POST /a HTTP/1.1\r\nHost: h\r\nX-Set: 1\r\nX-Dup: a\r\nX-Dup: b\r\nContent-Length: 2\r\n\r\nhi",
			"POST /a 2 Content-Length=2;X-Dup=a,b;X-Set=1", true, "/a"},
		{"GET /b HTTP/1.1\r\nHost: h\r\n\r\n", "GET /b 0 ", false, "/b"},
		{"GET /c HTTP/1.1\r\nHost: h\r\n" + many.String() + "\r\n", "", false, "/c"},
		{"GET /d HTTP/1.1\r\nHost: h\r\nX-Dup: z\r\n\r\n", "GET /d 0 X-Dup=z", false, "/d"},
	}
	for i, st := range steps {
		resp, body := c.do(st.raw, "GET")
		if st.want != "" && body != st.want {
			t.Fatalf("request %d: body %q, want %q", i, body, st.want)
		}
		if i == 2 && (!strings.Contains(body, "X-F0=0") || !strings.Contains(body, "X-F73=73")) {
			t.Fatalf("request %d: many fields lost: %q", i, body)
		}
		if got := resp.Header.Get("X-Only-Once") != ""; got != st.onlyOnce {
			t.Fatalf("request %d: X-Only-Once present %v, want %v", i, got, st.onlyOnce)
		}
		if got := resp.Header.Get("X-Path"); got != st.responsePath {
			t.Fatalf("request %d: X-Path %q, want %q", i, got, st.responsePath)
		}
		if got := resp.Header.Get("X-Ctx"); got != "" {
			t.Fatalf("request %d: context already ended: %s", i, got)
		}
	}
}

// The snapshot WriteHeader takes is the head: changing the map afterwards
// (the reused map, cleared for each request) does not change what is sent.
func TestHeaderChangedAfterWriteHeaderIsNotSent(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.Header()["X-Multi"] = []string{"a"}
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-After", "1")
		w.Header()["X-Multi"] = append(w.Header()["X-Multi"], "b")
		w.Write([]byte("ok"))
	})
	_, addr := startServer(t, handler)
	c := dial(t, addr)
	for i := range 2 {
		resp, _ := c.do("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Before") != "1" || resp.Header.Get("X-After") != "" ||
			strings.Join(resp.Header["X-Multi"], ",") != "a" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
}
