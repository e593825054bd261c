package tcpproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/h1"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// statusOK is what a pair that ended normally (or went idle) is recorded
// with: TCP has no status of its own, and this keeps the endpoint's
// per-code counters readable next to HTTP's (a client's fault is 499, the
// endpoint's 502, as for HTTP).
const statusOK = 200

// serve handles one client connection from admission to the end of its
// pair. It runs on the connection's own goroutine.
func (s *Server) serve(sess *session) {
	defer s.untrack(sess)
	if lg := s.alog.Logger(); lg != nil {
		defer s.logConn(lg, lg.Now(), sess)
	}
	// rate_limit counts connections here: a TCP stream has no requests to
	// count, and no way to say Retry-After, so a connection over the rate
	// is reset at once, before the concurrency cap and without a dial
	// (docs/rate-limits.md).
	if ok, _ := s.limit.Allow(); !ok {
		s.refuse(sess, localreply.RateLimited, "over the rate_limit of this sidecar")
		return
	}
	if !s.up.Admit() {
		s.refuse(sess, localreply.Overflow, "max_requests connections already open")
		return
	}
	defer s.up.Release(s.up.Now())

	a, conn, reason := s.connect(sess)
	if conn == nil {
		if reason != nil {
			s.refuse(sess, *reason, "")
		} else {
			sess.end(endShutdown) // the drain cut the connect short
		}
		return
	}
	if !sess.attach(conn) {
		// Shutdown's deadline passed while connecting.
		a.End(upstream.Failed(upstream.ClientGone))
		return
	}
	o := sess.relay(s.idle)
	if o.Kind == upstream.Reset {
		sess.reply = localreply.UpstreamReset.String()
	}
	a.End(o)
}

// refuse closes the client connection with a reset (the application sees
// its connect "fail" right after accept, as it would without the sidecar)
// and counts the local reply.
func (s *Server) refuse(sess *session, r localreply.Reason, detail string) {
	s.up.Stats().LocalReply(r)
	sess.reply = r.String()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("local reply", "upstream", s.up.Name(), "reason", r.String(), "detail", detail)
	}
	sess.end(endRefused)
}

var (
	reasonConnectFailure  = localreply.ConnectFailure
	reasonBudgetExhausted = localreply.RetryBudgetExhausted
)

// connect opens the upstream side: per attempt the breaker, a pick and a
// dial under connect_timeout, through the upstream's attempt seam. A
// failed dial ends the attempt as a connect failure (the endpoint's, for
// the outlier detector and the breaker) and goes to the retry gate: nothing
// was sent, so any connection may be tried again on another endpoint while
// retries.attempts, `retries.on: connect_failure`, a closed breaker and
// the budget allow. On success the breaker has been told (Settle) and the
// attempt — the endpoint's active count — is held for the pair's life.
// reason is nil when the drain cancelled the connect.
func (s *Server) connect(sess *session) (a upstream.Attempt, conn net.Conn, reason *localreply.Reason) {
	key := ""
	if s.ipHash {
		key = clientIP(sess.client.RemoteAddr())
	}
	var avoid *balancer.Endpoint
	for n := 0; ; n++ {
		var refused *upstream.Refusal
		if a, refused = s.up.Begin(nil, key, avoid); refused != nil {
			return a, nil, &refused.Reason
		}
		addr := a.Endpoint().Address
		sess.endpoint, sess.retries = addr, n
		c, err := h1.Dial(s.dialCtx, &s.dialer, addr, s.tls)
		if err == nil {
			a.Settle()
			return a, c, nil
		}
		if s.dialCtx.Err() != nil {
			a.End(upstream.Failed(upstream.ClientGone))
			return a, nil, nil
		}
		o := upstream.Failed(upstream.ConnectFailed)
		if errors.As(err, new(*h1.LocalError)) {
			o = upstream.Failed(upstream.NotReady) // no mesh identity yet: not the endpoint's
		}
		a.End(o)
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("connect failed", "upstream", s.up.Name(), "endpoint", addr, "attempt", n+1, "error", err)
		}
		switch a.Retry(s.dialCtx, n, o, upstream.Replay{Idempotent: true, Resendable: true}) {
		case upstream.RetryNow:
			avoid = a.Endpoint()
			continue
		case upstream.BudgetExhausted:
			return a, nil, &reasonBudgetExhausted
		}
		return a, nil, &reasonConnectFailure
	}
}

// clientIP is the host part of addr, the ip_hash key.
func clientIP(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
