package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// docs/connect.md: a mesh handshake "that does not finish within
// connect_timeout, is a dial failure … It counts as that endpoint's
// connect_failure, exactly like a refused connection". h1.Dial bounds the
// handshake with a context deadline, so its error wraps
// context.DeadlineExceeded and classify takes it for a timeout: 504
// upstream_timeout, retried only under "timeout"/"504", never under
// retries.on: [connect_failure]. (A plaintext connect timeout is
// classified the same way.)
func TestHandshakeTimeoutIsAConnectFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, never speaks TLS
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = h1.Dial(context.Background(), &net.Dialer{Timeout: 100 * time.Millisecond}, ln.Addr().String(),
		&tls.Config{InsecureSkipVerify: true})
	if err == nil || !h1.DialFailed(err) {
		t.Fatalf("err %v, want a dial failure", err)
	}
	if o := classify(context.Background(), err, false); o.Kind != upstream.ConnectFailed {
		t.Fatalf("a handshake that did not finish within connect_timeout is classified %v, want connect_failure (err %v)", o.Kind, err)
	}
}
