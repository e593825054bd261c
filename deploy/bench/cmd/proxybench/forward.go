package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// forwardMain is `proxybench forward`: the floor a Go proxy can reach on
// this machine, measured as the target go-floor. It is a reference, not a
// proxy to use: an HTTP/1.1 keep-alive forwarder with no net/http types,
// no header parsing beyond Content-Length, no limits, timeouts, retries,
// metrics or balancing — only what every proxy here does per request:
// read a request head, take a pooled upstream connection (checked with the
// same recv(MSG_PEEK) Outrigger uses, closed when the upstream sent
// anything), write the head with X-Forwarded-For added, read the answer's
// head and its Content-Length body, write both to the client. The yields
// before reads that would find nothing are Outrigger's too. A goroutine
// per client connection, GOMAXPROCS=1 as for Outrigger, so the difference
// between the two is what Outrigger's request path costs over Go's own.
//
// Requests must carry no body and answers a Content-Length (the backend's
// do); anything else ends the connection.
func forwardMain(args []string) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	up := fs.String("upstream", "", "the backend's address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *up == "" {
		return errors.New("-upstream is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr())
	f := &forwarder{upstream: *up, idle: make(chan *fwdConn, 256)}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go f.serve(c)
	}
}

type forwarder struct {
	upstream string
	idle     chan *fwdConn
}

// fwdConn is a pooled upstream connection.
type fwdConn struct {
	c     net.Conn
	raw   syscall.RawConn
	br    *bufio.Reader
	bw    *bufio.Writer
	peek  func(fd uintptr)
	quiet bool
}

func (f *forwarder) get() (*fwdConn, error) {
	for {
		select {
		case u := <-f.idle:
			if u.br.Buffered() == 0 && u.isQuiet() {
				return u, nil
			}
			u.c.Close()
		default:
			c, err := net.Dial("tcp", f.upstream)
			if err != nil {
				return nil, err
			}
			raw, err := c.(*net.TCPConn).SyscallConn()
			if err != nil {
				c.Close()
				return nil, err
			}
			u := &fwdConn{c: c, raw: raw, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
			u.peek = func(fd uintptr) {
				var b [1]byte
				_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
					syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
				u.quiet = e == syscall.EAGAIN || e == syscall.EWOULDBLOCK
			}
			return u, nil
		}
	}
}

func (u *fwdConn) isQuiet() bool {
	u.quiet = false
	return u.raw.Control(u.peek) == nil && u.quiet
}

func (f *forwarder) put(u *fwdConn) {
	select {
	case f.idle <- u:
	default:
		u.c.Close()
	}
}

func (f *forwarder) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	xff := []byte("X-Forwarded-For: " + host + "\r\n\r\n")
	var head, answer []byte
	for {
		if br.Buffered() == 0 {
			runtime.Gosched()
		}
		var err error
		if head, err = readHeadBytes(br, head); err != nil {
			return
		}
		u, err := f.get()
		if err != nil {
			return
		}
		u.bw.Write(head)
		u.bw.Write(xff)
		if u.bw.Flush() != nil {
			u.c.Close()
			return
		}
		runtime.Gosched()
		if answer, err = readHeadBytes(u.br, answer); err != nil {
			u.c.Close()
			return
		}
		n, ok := headContentLength(answer)
		if !ok {
			u.c.Close()
			return
		}
		bw.Write(answer)
		bw.WriteString("\r\n")
		if _, err := io.CopyN(bw, u.br, n); err != nil {
			u.c.Close()
			return
		}
		f.put(u)
		if bw.Flush() != nil {
			return
		}
	}
}

// readHeadBytes reads a head's lines into buf, without the empty line that
// ends it.
func readHeadBytes(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 {
			return buf, nil
		}
		if len(buf)+len(line) > 64<<10 {
			return nil, errors.New("head too large")
		}
		buf = append(buf, line...)
	}
}

var contentLengthName = []byte("content-length:")

// headContentLength finds an answer head's Content-Length.
func headContentLength(head []byte) (int64, bool) {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			return 0, false
		}
		line := head[:i+1]
		head = head[i+1:]
		if len(line) > len(contentLengthName) && bytes.EqualFold(line[:len(contentLengthName)], contentLengthName) {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line[len(contentLengthName):])), 10, 64)
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}
