package h1

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
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
	if d.Timeout > 0 { // one bound for the connect and the handshake
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nc.RemoteAddr(), Err: fmt.Errorf("mTLS handshake: %w", err)}
	}
	return tc, nil
}
