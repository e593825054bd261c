package h2c

import (
	"bytes"
	"net"
	"slices"
	"time"
)

// sniff reads the first bytes of c, as many as it takes to tell what they
// are, and hands c (with those bytes put back) to the HTTP/2 server (the
// preface), to the HTTP/1 server (a request line ending in HTTP/1.0 or
// HTTP/1.1), or closes it (anything else, as RFC 9113 §3.4 asks of an
// invalid preface). The first bytes may take h2IdleTimeout to come, the
// rest of the preface or request line h1HeadTimeout.
func (s *Server) sniff(c net.Conn) {
	head, kind := sniffHead(c, s.h1 != nil)
	c.SetReadDeadline(time.Time{})
	if !s.untrack(c) || kind == sniffClose { // or Shutdown came first
		c.Close()
		return
	}
	sc := &sniffedConn{Conn: c, head: head}
	if kind == sniffH2 {
		s.h2ln.deliver(sc)
	} else if !s.h1.ServeConn(sc) {
		sc.Close()
	}
}

type sniffKind int

const (
	sniffClose sniffKind = iota
	sniffH2
	sniffH1
)

const (
	// h1HeadTimeout is h1's default ReadHeaderTimeout: the time the rest
	// of a preface or request line may take once its first byte came.
	h1HeadTimeout = 30 * time.Second
	// h1MaxLine bounds the request line read here (h1's MaxHeaderBytes
	// default); a longer one is left to h1 to refuse.
	h1MaxLine = 64 << 10
)

// sniffHead reads from c until classifyHead can tell what the connection is,
// and returns what it read.
func sniffHead(c net.Conn, http1 bool) ([]byte, sniffKind) {
	c.SetReadDeadline(time.Now().Add(h2IdleTimeout))
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if n > 0 && len(buf) == 0 {
			c.SetReadDeadline(time.Now().Add(h1HeadTimeout))
		}
		buf = buf[:len(buf)+n]
		if kind, ok := classifyHead(buf, http1); ok {
			return buf, kind
		}
		if err != nil {
			return nil, sniffClose
		}
	}
}

// classifyHead tells what a connection's first bytes b are, or false when it
// needs more of them. Only an HTTP/2 client's bytes match the preface
// beyond the 'P' of POST, PUT or PATCH, so HTTP/1 is told within two bytes
// of the preface; then its request line must end in HTTP/1.x (empty lines
// before it are allowed, RFC 9112 §2.2).
func classifyHead(b []byte, http1 bool) (sniffKind, bool) {
	if n := min(len(b), len(h2Preface)); string(b[:n]) == h2Preface[:n] {
		return sniffH2, n == len(h2Preface)
	}
	if !http1 {
		return sniffClose, true
	}
	line := bytes.TrimLeft(b, "\r\n")
	i := bytes.IndexByte(line, '\n')
	if i < 0 {
		return sniffH1, len(b) >= h1MaxLine
	}
	line = bytes.TrimSuffix(line[:i], []byte("\r"))
	if bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return sniffH1, true
	}
	return sniffClose, true
}

// sniffedConn is a connection whose first bytes were read already: Read
// returns them first.
type sniffedConn struct {
	net.Conn
	head []byte
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps the half-close of the TCP connection reachable (h1
// uses it for a lingering close).
func (c *sniffedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
