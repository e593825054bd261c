package tcpproxy

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/retry"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// The statuses a connection's lease is finished with. TCP has none of its
// own; these keep the endpoint's per-code counters readable next to HTTP's.
const (
	statusOK           = 200 // the pair ended normally (or went idle)
	statusClientClosed = 499 // the client reset it, or the drain cut it: not the endpoint's doing
	statusFailed       = 502 // connect failure, or the endpoint reset the pair
)

// serve handles one client connection from admission to the end of its
// pair. It runs on the connection's own goroutine.
func (s *Server) serve(sess *session) {
	defer s.untrack(sess)
	stats := s.up.Stats()
	if !stats.TryBeginRequest(s.maxConns) {
		s.refuse(sess, localreply.Overflow, "max_requests connections already open")
		return
	}
	start := time.Now()
	defer func() { stats.EndRequest(time.Since(start)) }()
	s.up.RetryBudget().Request()

	lease, conn, reason, ok := s.connect(sess)
	if !ok {
		if reason != nil {
			s.refuse(sess, *reason, "")
		} else {
			sess.end(endShutdown) // the drain cut the connect short
		}
		return
	}
	if !sess.attach(conn) {
		// Shutdown's deadline passed while connecting.
		lease.Done(statusClientClosed, outlier.Ignored)
		return
	}
	status, o := sess.relay(s.idle)
	lease.Done(status, o)
}

// refuse closes the client connection with a reset (the application sees
// its connect "fail" right after accept, as it would without the sidecar)
// and counts the local reply.
func (s *Server) refuse(sess *session, r localreply.Reason, detail string) {
	s.up.Stats().LocalReply(r)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("local reply", "upstream", s.up.Name(), "reason", r.String(), "detail", detail)
	}
	sess.end(endRefused)
}

var (
	reasonCircuitOpen     = localreply.CircuitOpen
	reasonNoUpstream      = localreply.NoHealthyUpstream
	reasonConnectFailure  = localreply.ConnectFailure
	reasonBudgetExhausted = localreply.RetryBudgetExhausted
)

// connect opens the upstream side: per attempt the breaker, a pick and a
// dial under connect_timeout. A failed dial counts against the endpoint and
// the breaker, and is tried again on another endpoint while retries.attempts,
// `retries.on: connect_failure`, a closed breaker and the retry budget allow.
// On success the lease is held (the endpoint's active count includes this
// connection) and the breaker has been told. reason is nil when the drain
// cancelled the connect.
func (s *Server) connect(sess *session) (lease upstream.Lease, conn net.Conn, reason *localreply.Reason, ok bool) {
	key := ""
	if s.ipHash {
		key = clientIP(sess.client.RemoteAddr())
	}
	policy := s.up.RetryPolicy()
	var avoid *balancer.Endpoint
	for n := 0; ; n++ {
		breakDone, allowed := s.up.Breaker().Allow()
		if !allowed {
			return lease, nil, &reasonCircuitOpen, false
		}
		var picked bool
		if lease, picked = s.up.Pick(key, avoid); !picked {
			breakDone(breaker.Excluded)
			return lease, nil, &reasonNoUpstream, false
		}
		addr := lease.Endpoint().Address
		c, err := s.dialer.DialContext(s.dialCtx, "tcp", addr)
		if err == nil {
			breakDone(nil)
			return lease, c, nil, true
		}
		if s.dialCtx.Err() != nil {
			lease.Done(statusClientClosed, outlier.Ignored)
			breakDone(breaker.Excluded)
			return lease, nil, nil, false
		}
		lease.Done(statusFailed, outlier.LocalFailure)
		breakDone(breaker.Failure)
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("connect failed", "upstream", s.up.Name(), "endpoint", addr, "attempt", n+1, "error", err)
		}
		if n >= policy.Attempts || !policy.Matches(retry.ConnectFailure, 0) ||
			s.up.Breaker().State() != breaker.Closed {
			return lease, nil, &reasonConnectFailure, false
		}
		if !s.up.RetryBudget().TryRetry() {
			return lease, nil, &reasonBudgetExhausted, false
		}
		s.up.Stats().Retry()
		avoid = lease.Endpoint()
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
