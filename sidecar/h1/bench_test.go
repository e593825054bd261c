package h1

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A typical ~300-byte GET head from an HTTP client library.
const benchHead = "GET /api/v1/payments/12345?expand=customer&limit=10 HTTP/1.1\r\n" +
	"Host: payments.internal:9001\r\n" +
	"User-Agent: Go-http-client/1.1\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
	"X-Request-Id: 7f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b\r\n" +
	"Authorization: Bearer abcdef0123456789\r\n" +
	"\r\n"

// BenchmarkReadRequest parses the head with one bufio.Reader reused across
// iterations, as a connection does.
func BenchmarkReadRequest(b *testing.B) {
	sr := strings.NewReader(benchHead)
	br := bufio.NewReaderSize(sr, bufSize)
	var scratch []byte
	var req http.Request
	b.SetBytes(int64(len(benchHead)))
	b.ReportAllocs()
	for b.Loop() {
		sr.Reset(benchHead)
		br.Reset(sr)
		req = http.Request{}
		if _, err := readRequest(br, 0, 0, &scratch, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadRequestNetHTTP is the same with net/http, for comparison.
func BenchmarkReadRequestNetHTTP(b *testing.B) {
	sr := strings.NewReader(benchHead)
	br := bufio.NewReaderSize(sr, bufSize)
	b.SetBytes(int64(len(benchHead)))
	b.ReportAllocs()
	for b.Loop() {
		sr.Reset(benchHead)
		br.Reset(sr)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeKeepAlive measures a whole GET round trip on one
// loopback keep-alive connection.
func BenchmarkServeKeepAlive(b *testing.B) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	l, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	c, err := netDial(l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.WriteString(c, benchHead); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
}
