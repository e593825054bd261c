package h1

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
)

// Dial connects to addr with d and, with a TLS config (a mesh upstream's
// mTLS: docs/connect.md), completes the handshake under the same dial
// timeout. A handshake that fails — a peer the roots do not vouch for, or
// with another service's identity — is a dial error (*net.OpError, Op
// "dial"): the endpoint's connect_failure, as a refused connection is.
// The protocol http2 client and protocol tcp dial through it too.
func Dial(ctx context.Context, d *net.Dialer, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	if cfg.GetClientCertificate != nil {
		// This sidecar's own certificate first: without one (no mesh
		// identity from Consul yet) no endpoint is dialed, and none is
		// blamed.
		if _, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{}); err != nil {
			return nil, &LocalError{Err: err}
		}
	}
	if d.Timeout > 0 { // one bound for the connect and the handshake
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc := &sockCounter{Conn: nc}
	if c, ok := nc.(syscall.Conn); ok {
		sc.raw, _ = c.SyscallConn()
	}
	tc := tls.Client(sc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nc.RemoteAddr(), Err: fmt.Errorf("mTLS handshake: %w", err)}
	}
	return tc, nil
}

// sockCounter watches what a TLS connection reads from its socket: how
// many bytes, and whether they end inside a record (its 5-byte header
// gives the length). The TLS layer may read part of a record beyond the
// one it returns data from; at an idle check (quietTLS) such a partial
// record is a stray answer that has begun to arrive, which a read with a
// past deadline cannot show. Reads come from the TLS layer, one at a time.
type sockCounter struct {
	net.Conn
	raw     syscall.RawConn // the socket, for a peek; nil if unavailable
	n       atomic.Int64
	partial atomic.Bool // what was read ends inside a record
	hdr     [5]byte
	hdrLen  int // bytes of the next record header seen
	left    int // bytes of the current record still to come
}

func (s *sockCounter) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.n.Add(int64(n))
	s.track(p[:n])
	return n, err
}

// track follows the record framing of b.
func (s *sockCounter) track(b []byte) {
	for len(b) > 0 {
		if s.left > 0 {
			k := min(s.left, len(b))
			s.left -= k
			b = b[k:]
			continue
		}
		k := copy(s.hdr[s.hdrLen:], b)
		s.hdrLen += k
		b = b[k:]
		if s.hdrLen == len(s.hdr) {
			s.left = int(s.hdr[3])<<8 | int(s.hdr[4])
			s.hdrLen = 0
		}
	}
	s.partial.Store(s.hdrLen > 0 || s.left > 0)
}

// isTLSRefusal reports whether err is a TLS alert the peer sent (it
// refused the handshake: our certificate, our identity).
func isTLSRefusal(err error) bool {
	return strings.Contains(err.Error(), "remote error: tls: ")
}

// LocalError is a failure of this sidecar's own state, before any
// endpoint was contacted (no mesh identity yet): nothing was sent, and it
// is no endpoint's fault.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }
