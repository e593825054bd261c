package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

func readReq(raw string) (*http.Request, error) {
	return ReadRequest(bufio.NewReaderSize(strings.NewReader(raw), 4096), 0)
}

func TestReadRequestValid(t *testing.T) {
	tests := []struct {
		name, raw string
		check     func(t *testing.T, r *http.Request)
	}{
		{"get", "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.Method != "GET" || r.URL.Path != "/a/b" || r.URL.RawQuery != "c=d" || r.Host != "example.com" {
				t.Errorf("got %s %v %s", r.Method, r.URL, r.Host)
			}
			if r.RequestURI != "/a/b?c=d" || r.Proto != "HTTP/1.1" || r.ProtoMinor != 1 || r.Close {
				t.Errorf("got %q %q %d close=%v", r.RequestURI, r.Proto, r.ProtoMinor, r.Close)
			}
			if r.Body != http.NoBody || r.ContentLength != 0 || r.Header.Get("Host") != "" {
				t.Errorf("body %v cl %d host header %q", r.Body, r.ContentLength, r.Header.Get("Host"))
			}
		}},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", nil},
		{"http10 without host", "GET / HTTP/1.0\r\n\r\n", func(t *testing.T, r *http.Request) {
			if !r.Close || r.ProtoMinor != 0 {
				t.Errorf("close=%v minor=%d", r.Close, r.ProtoMinor)
			}
		}},
		{"http10 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.Close {
				t.Error("want keep-alive")
			}
		}},
		{"connection close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", func(t *testing.T, r *http.Request) {
			if !r.Close || r.Header.Get("Connection") != "foo, close" {
				t.Errorf("close=%v header=%q", r.Close, r.Header.Get("Connection"))
			}
		}},
		{"absolute form wins over Host", "GET http://a.example:8080/x HTTP/1.1\r\nHost: b.example\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.Host != "a.example:8080" || r.URL.Path != "/x" || r.URL.Scheme != "http" {
				t.Errorf("host %q url %v", r.Host, r.URL)
			}
		}},
		{"connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.URL.Host != "a.example:443" || r.Host != "a.example:443" {
				t.Errorf("url %v host %q", r.URL, r.Host)
			}
		}},
		{"options star", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.URL.Path != "*" {
				t.Errorf("url %v", r.URL)
			}
		}},
		{"repeated fields and OWS", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1 \r\nx-a:\t2\r\nX-B:\r\n\r\n", func(t *testing.T, r *http.Request) {
			if got := r.Header["X-A"]; !reflect.DeepEqual(got, []string{"1", "2"}) {
				t.Errorf("X-A = %q", got)
			}
			if got, ok := r.Header["X-B"]; !ok || got[0] != "" {
				t.Errorf("X-B = %q", got)
			}
		}},
		{"duplicate identical CL collapsed", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc", func(t *testing.T, r *http.Request) {
			if r.ContentLength != 3 || !reflect.DeepEqual(r.Header["Content-Length"], []string{"3"}) {
				t.Errorf("cl %d header %q", r.ContentLength, r.Header["Content-Length"])
			}
		}},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nTrailer: X-T\r\n\r\n3;a=b;c=\"d\\\"\"\r\nabc\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n", func(t *testing.T, r *http.Request) {
			if r.ContentLength != -1 || !reflect.DeepEqual(r.TransferEncoding, []string{"chunked"}) || r.Header.Get("Transfer-Encoding") != "" {
				t.Errorf("cl %d te %q", r.ContentLength, r.TransferEncoding)
			}
			if _, ok := r.Trailer["X-T"]; !ok {
				t.Errorf("declared trailer missing before EOF: %v", r.Trailer)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil || string(b) != "abc" {
				t.Fatalf("body %q %v", b, err)
			}
			want := http.Header{"X-T": {"1"}, "X-U": {"2"}}
			if !reflect.DeepEqual(r.Trailer, want) {
				t.Errorf("trailer %v, want %v", r.Trailer, want)
			}
		}},
		{"expect removed", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", func(t *testing.T, r *http.Request) {
			if _, ok := r.Header["Expect"]; ok {
				t.Error("Expect left in header")
			}
		}},
		{"empty host for http10 absolute", "GET http://h/ HTTP/1.0\r\n\r\n", nil},
		{"obs-text in value", "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readReq(tt.raw)
			if err != nil {
				t.Fatalf("ReadRequest: %v", err)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestReadRequestInvalid(t *testing.T) {
	tests := []struct {
		name, raw, reason string
	}{
		{"two empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", reasonEmptyLines},
		{"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", reasonBareLF},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", reasonBareLF},
		{"bare LF end", "GET / HTTP/1.1\r\nHost: h\r\n\n", reasonBareLF},
		{"bare CR", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", reasonBareCR},
		{"lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", reasonRequestLine},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", reasonVersion},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", reasonVersion},
		{"HTTP/0.9", "GET /\r\n\r\n", reasonRequestLine},
		{"double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", reasonRequestLine},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", reasonMethod},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"ctl in target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"relative target", "GET a HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"star not options", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"authority not connect", "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"connect origin form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"connect no port", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"absolute userinfo", "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"absolute empty host", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", reasonTarget},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", reasonObsFold},
		{"space before first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", reasonObsFold},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", reasonSpaceBeforeColn},
		{"no colon", "GET / HTTP/1.1\r\nHost: h\r\nfoo\r\n\r\n", reasonFieldLine},
		{"empty name", "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", reasonFieldName},
		{"bad name", "GET / HTTP/1.1\r\nHost: h\r\nX(y: x\r\n\r\n", reasonFieldName},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", reasonFieldValue},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", reasonFieldValue},
		{"no host", "GET / HTTP/1.1\r\n\r\n", reasonNoHost},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", reasonManyHosts},
		{"two hosts http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", reasonManyHosts},
		{"host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", reasonBadHost},
		{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", reasonBadHost},
		{"host with at", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", reasonBadHost},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", reasonCLAndTE},
		{"TE chunked chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", reasonBadTE},
		{"TE repeated fields", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", reasonBadTE},
		{"TE gzip chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", reasonBadTE},
		{"TE identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", reasonBadTE},
		{"TE empty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", reasonBadTE},
		{"TE chunked param", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", reasonBadTE},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", reasonTEInHTTP10},
		{"CL differing", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", reasonConflictingCL},
		{"CL list differing", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", reasonConflictingCL},
		{"CL plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", reasonBadCL},
		{"CL minus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\n", reasonBadCL},
		{"CL inner space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", reasonBadCL},
		{"CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", reasonBadCL},
		{"CL empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", reasonBadCL},
		{"CL empty element", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3,,3\r\n\r\n", reasonBadCL},
		{"CL overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", reasonBadCL},
		{"expect other", "GET / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n", reasonExpect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readReq(tt.raw)
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ReadRequest = %v, %v; want RequestError", r, err)
			}
			if re.Status != http.StatusBadRequest || re.Reason != tt.reason {
				t.Errorf("got %d %q, want 400 %q", re.Status, re.Reason, tt.reason)
			}
		})
	}
}

func TestReadRequestEOF(t *testing.T) {
	for raw, want := range map[string]error{
		"":                   io.EOF,
		"\r\n":               io.EOF,
		"GET / HTTP/1.1\r\n": io.ErrUnexpectedEOF,
		"GET":                io.ErrUnexpectedEOF,
	} {
		if _, err := readReq(raw); err != want {
			t.Errorf("%q: err = %v, want %v", raw, err, want)
		}
	}
}

func TestReadRequestHeaderLimit(t *testing.T) {
	const max = 1000
	head := func(size int) string {
		base := "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n"
		return strings.Replace(base, "X: ", "X: "+strings.Repeat("a", size-len(base)), 1)
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader(head(max))), max); err != nil {
		t.Fatalf("head of exactly %d bytes: %v", max, err)
	}
	_, err := ReadRequest(bufio.NewReader(strings.NewReader(head(max+1))), max)
	var re *RequestError
	if !errors.As(err, &re) || re.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("head of %d bytes: %v, want 431", max+1, err)
	}
}

func TestChunkedBodyErrors(t *testing.T) {
	const head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name, body, reason string
	}{
		{"bare LF after size", "3\nabc\r\n0\r\n\r\n", reasonChunkBareLF},
		{"bare CR in size line", "3\rx\r\nabc\r\n0\r\n\r\n", reasonChunkBareCR},
		{"17 hex digits", "00000000000000003\r\nabc\r\n0\r\n\r\n", reasonChunkSizeLarge},
		{"overflow", "8000000000000000\r\n", reasonChunkSizeLarge},
		{"no digits", "\r\nabc\r\n0\r\n\r\n", reasonChunkSize},
		{"negative", "-3\r\nabc\r\n0\r\n\r\n", reasonChunkSize},
		{"0x prefix", "0x3\r\nabc\r\n0\r\n\r\n", reasonChunkExt},
		{"space after size", "3 \r\nabc\r\n0\r\n\r\n", reasonChunkExt},
		{"ext without name", "3;\r\nabc\r\n0\r\n\r\n", reasonChunkExt},
		{"ext bad value", "3;a=\"x\r\nabc\r\n0\r\n\r\n", reasonChunkExt},
		{"ext too long", "3;a=" + strings.Repeat("b", maxChunkExt) + "\r\nabc\r\n0\r\n\r\n", reasonChunkExtLong},
		{"ext too long in total", strings.Repeat("1;a="+strings.Repeat("b", 1000)+"\r\nx\r\n", 5) + "0\r\n\r\n", reasonChunkExtLong},
		{"data longer than size", "3\r\nabcd\r\n0\r\n\r\n", reasonChunkDataCRLF},
		{"LF after data", "3\r\nabc\n0\r\n\r\n", reasonChunkDataCRLF},
		{"trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", reasonObsFold},
		{"trailer NUL", "0\r\nX: a\x00\r\n\r\n", reasonFieldValue},
		{"trailer bare LF", "0\r\nX: a\n\r\n", reasonChunkBareLF},
		{"trailer too large", "0\r\nX: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\r\n\r\n", reasonTrailerLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readReq(head + tt.body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(r.Body)
			var re *RequestError
			if !errors.As(err, &re) || re.Status != 400 || re.Reason != tt.reason {
				t.Fatalf("body error %v, want 400 %q", err, tt.reason)
			}
			// The error is sticky.
			if _, err2 := r.Body.Read(make([]byte, 1)); err2 != err {
				t.Errorf("second Read = %v, want %v", err2, err)
			}
		})
	}
}

func TestBodyTruncated(t *testing.T) {
	for _, raw := range []string{
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
	} {
		r, err := readReq(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r.Body); err != io.ErrUnexpectedEOF {
			t.Errorf("%q: body err %v, want ErrUnexpectedEOF", raw, err)
		}
	}
}

// TestCrossCheckNetHTTP parses valid requests with ReadRequest and with
// net/http's ReadRequest and compares what a handler would see.
func TestCrossCheckNetHTTP(t *testing.T) {
	reqs := []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /a/b%20c?x=1&y=%41 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nUser-Agent: curl/8.0\r\n\r\n",
		"GET //double/slash HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET http://Example.COM:81/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"DELETE /r HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
		"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
		"PATCH /p HTTP/1.1\r\nHost: h\r\nx-lower: a\r\nX-Multi: 1\r\nX-Multi: 2\r\nCookie: a=b\r\nCookie: c=d\r\nContent-Length: 2\r\n\r\nhi",
		"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab: \ta b\t\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	}
	for _, raw := range reqs {
		ours, err := readReq(raw)
		if err != nil {
			t.Errorf("%q: ours: %v", raw, err)
			continue
		}
		theirs, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Errorf("%q: net/http: %v", raw, err)
			continue
		}
		delete(theirs.Header, "Host") // net/http's server deletes it too
		ourBody, err1 := io.ReadAll(ours.Body)
		theirBody, err2 := io.ReadAll(theirs.Body)
		if err1 != nil || err2 != nil {
			t.Errorf("%q: body errors %v / %v", raw, err1, err2)
		}
		switch {
		case ours.Method != theirs.Method:
			t.Errorf("%q: Method %q vs %q", raw, ours.Method, theirs.Method)
		case !reflect.DeepEqual(ours.URL, theirs.URL):
			t.Errorf("%q: URL %#v vs %#v", raw, ours.URL, theirs.URL)
		case ours.Host != theirs.Host:
			t.Errorf("%q: Host %q vs %q", raw, ours.Host, theirs.Host)
		case !reflect.DeepEqual(ours.Header, theirs.Header):
			t.Errorf("%q: Header %v vs %v", raw, ours.Header, theirs.Header)
		case string(ourBody) != string(theirBody):
			t.Errorf("%q: body %q vs %q", raw, ourBody, theirBody)
		case ours.ContentLength != theirs.ContentLength || ours.Close != theirs.Close ||
			!reflect.DeepEqual(ours.TransferEncoding, theirs.TransferEncoding):
			t.Errorf("%q: framing %d/%v/%v vs %d/%v/%v", raw, ours.ContentLength, ours.Close, ours.TransferEncoding,
				theirs.ContentLength, theirs.Close, theirs.TransferEncoding)
		case len(theirs.Trailer) > 0 && !reflect.DeepEqual(ours.Trailer, theirs.Trailer):
			t.Errorf("%q: Trailer %v vs %v", raw, ours.Trailer, theirs.Trailer)
		case ours.RequestURI != theirs.RequestURI || ours.Proto != theirs.Proto:
			t.Errorf("%q: RequestURI/Proto %q %q vs %q %q", raw, ours.RequestURI, ours.Proto, theirs.RequestURI, theirs.Proto)
		}
	}
}

// limits.max_request_headers: a head within MaxHeaderBytes can still hold
// thousands of tiny fields, each a map entry; beyond the limit it is a 431.
func TestReadRequestTooManyFields(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: h\r\n")
	for i := range DefaultMaxHeaders - 1 { // Host counts as one
		b.WriteString("X-" + strings.Repeat("a", i%20+1) + ": 1\r\n")
	}
	if _, err := readReq(b.String() + "\r\n"); err != nil {
		t.Fatalf("%d fields: %v", DefaultMaxHeaders, err)
	}
	_, err := readReq(b.String() + "X-One-More: 1\r\n\r\n")
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 431 || re.Reason != reasonTooManyFields {
		t.Fatalf("%d fields: %v, want 431 %q", DefaultMaxHeaders+1, err, reasonTooManyFields)
	}
}

// canonicalKey agrees with textproto for every token shape.
func TestCanonicalKey(t *testing.T) {
	for _, k := range []string{"Content-Length", "content-length", "CONTENT-LENGTH", "X-A", "x-a", "X-a", "Te", "TE",
		"a", "A", "-", "--x", "X--Y", "x_y", "X_y", "Www-Authenticate", "ETag", "A1-b2", "1a", "x.y", "X.Y"} {
		if got, want := canonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Errorf("canonicalKey(%q) = %q, textproto %q", k, got, want)
		}
	}
}
