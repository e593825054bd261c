package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzReadRequest checks that ReadRequest and reading the whole body never
// panic, never yield an ambiguous request, never yield field values that
// could split a forwarded message, and fail only in documented ways.
//
//	go test -fuzz=FuzzReadRequest ./sidecar/h1/
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\nGET /a?b HTTP/1.0\r\n\r\n",
		"GET http://h:80/x HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n3;a=\"b\"\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1024
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		req, err := ReadRequest(br, max)
		if err != nil {
			checkErr(t, err)
			return
		}
		if _, ok := req.Header["Transfer-Encoding"]; ok {
			t.Fatal("Transfer-Encoding left in Header")
		}
		if len(req.TransferEncoding) > 0 && req.Header.Get("Content-Length") != "" {
			t.Fatal("request has both Content-Length and Transfer-Encoding")
		}
		if len(req.TransferEncoding) > 0 != (req.ContentLength == -1) || req.ContentLength < -1 {
			t.Fatalf("framing: CL %d TE %q", req.ContentLength, req.TransferEncoding)
		}
		if len(req.Header["Content-Length"]) > 1 {
			t.Fatal("several Content-Length values")
		}
		checkFields(t, req.Header)
		if strings.ContainsAny(req.Host, " \t\r\n\x00/") || strings.ContainsAny(req.RequestURI, " \r\n\x00#") {
			t.Fatalf("bad Host %q or target %q", req.Host, req.RequestURI)
		}
		n, err := io.Copy(io.Discard, req.Body)
		if err != nil {
			checkErr(t, err)
			return
		}
		if req.ContentLength >= 0 && n != req.ContentLength {
			t.Fatalf("read %d body bytes, Content-Length %d", n, req.ContentLength)
		}
		checkFields(t, req.Trailer)
	})
}

func checkErr(t *testing.T, err error) {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		if re.Status != http.StatusBadRequest && re.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("RequestError status %d", re.Status)
		}
	case err == io.EOF, err == io.ErrUnexpectedEOF:
	default:
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
}

func checkFields(t *testing.T, h http.Header) {
	for k, vv := range h {
		if !isToken(k) {
			t.Fatalf("field name %q", k)
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("field %s value %q", k, v)
			}
		}
	}
}
