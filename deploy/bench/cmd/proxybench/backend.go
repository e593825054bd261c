package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// BodySize is the size of the backend's response body, but for bigPath's.
const BodySize = 1024

// backendMain is `proxybench backend`: one HTTP/1.1 server on loopback that
// answers every request with 200 and a 1 KiB body, or a 64 KiB one for a
// path starting with bigPath (the -64k targets). It prints
// "listening ADDR" on stdout once it accepts connections and runs until it
// is killed.
//
// The default kind, "raw", is a minimal keep-alive HTTP/1.1 responder
// (request head read line by line, a prebuilt response written with one
// write): it costs a fraction of net/http's CPU per request, so that the
// shared load-generator core limits the proxies as little as possible.
// "nethttp" is the same answer from net/http's server.
func backendMain(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	kind := fs.String("kind", "raw", "raw or nethttp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr())
	body := bytes.Repeat([]byte("x"), BodySize)
	big := bytes.Repeat([]byte("x"), BigSize)
	switch *kind {
	case "raw":
		return serveRaw(ln, newRawResponses(body), newRawResponses(big))
	case "nethttp":
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			body := body
			if strings.HasPrefix(r.URL.Path, bigPath) {
				body = big
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		})}
		return srv.Serve(ln)
	default:
		return fmt.Errorf("backend: unknown -kind %q", *kind)
	}
}

// rawResponses are the prebuilt answers with one body: keep-alive and
// closing.
type rawResponses struct{ keep, closing []byte }

func newRawResponses(body []byte) rawResponses {
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n"
	return rawResponses{
		keep:    append([]byte(head+"\r\n"), body...),
		closing: append([]byte(head+"Connection: close\r\n\r\n"), body...),
	}
}

func serveRaw(ln net.Listener, small, big rawResponses) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go rawConn(c, small, big)
	}
}

var errUnsupported = errors.New("unsupported request")

// rawConn answers the requests of one connection until the peer closes it,
// asks for close, or sends something this minimal server does not handle
// (a chunked request body or a head line over 8 KiB), which closes it.
func rawConn(c net.Conn, small, big rawResponses) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	for {
		closeAfter, isBig, err := readHead(br)
		if err != nil {
			if errors.Is(err, errUnsupported) {
				_, _ = c.Write([]byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}
			return
		}
		rs := small
		if isBig {
			rs = big
		}
		resp := rs.keep
		if closeAfter {
			resp = rs.closing
		}
		if _, err := c.Write(resp); err != nil || closeAfter {
			return
		}
	}
}

// readHead consumes one request (head and Content-Length body) and says
// whether the connection is to be closed after the answer, and whether
// the request's path starts with bigPath.
func readHead(br *bufio.Reader) (closeAfter, big bool, err error) {
	first := true
	http10 := false
	keepAlive := false
	var contentLength int64
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return true, false, errUnsupported
			}
			return true, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			if len(line) == 0 { // tolerate a stray CRLF between requests
				continue
			}
			first = false
			http10 = bytes.HasSuffix(line, []byte("HTTP/1.0"))
			if _, target, ok := bytes.Cut(line, []byte(" ")); ok {
				big = bytes.HasPrefix(target, []byte(bigPath))
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		name := line[:i]
		value := bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, perr := strconv.ParseInt(string(value), 10, 64)
			if perr != nil || n < 0 {
				return true, false, errUnsupported
			}
			contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return true, false, errUnsupported
		case bytes.EqualFold(name, []byte("Connection")):
			lv := bytes.ToLower(value)
			if bytes.Contains(lv, []byte("close")) {
				closeAfter = true
			}
			if bytes.Contains(lv, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	if contentLength > 0 {
		if _, err := io.CopyN(io.Discard, br, contentLength); err != nil {
			return true, false, err
		}
	}
	if http10 && !keepAlive {
		closeAfter = true
	}
	return closeAfter, big, nil
}
