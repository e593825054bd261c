package tcpproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// endReason says why a session ended; the first one set wins.
type endReason uint8

const (
	endNone     endReason = iota
	endDone               // both directions reached EOF
	endIdle               // neither direction moved a byte for idle_timeout
	endFailed             // an I/O error (a reset) on either side
	endRefused            // a local reply: no upstream connection was made
	endShutdown           // the drain's deadline passed
)

// Directions of a pair, indexing session.eof.
const (
	toUpstream = 0 // client -> endpoint
	toClient   = 1 // endpoint -> client
)

// checksPerIdle is how many read deadlines one idle_timeout spans; see
// pipe for why the idle timeout is checked this way.
const checksPerIdle = 4

// session is one client connection and, once connected, its endpoint
// connection. end closes both exactly once; Shutdown calls it from another
// goroutine, so the upstream conn is published under mu.
type session struct {
	client net.Conn      // the accepted connection itself (a *net.TCPConn: splice, SetLinger)
	closer io.Closer     // what closes it: the accept loop's wrapper, which frees its slot
	done   chan struct{} // closed by end

	mu            sync.Mutex
	upstream      net.Conn // nil until attach
	why           endReason
	upstreamBroke bool // decided by end(endFailed): the endpoint's side reset or timed out

	// Set by relay before the copy goroutines start, read-only after.
	idle, slice time.Duration
	base        time.Time // for last: the monotonic clock, not the wall
	// Shared by the two directions.
	last atomic.Int64   // when a byte last moved (as seen), in ns since base
	eof  [2]atomic.Bool // per direction: its source ended with EOF

	// For the access log: bytes moved per direction, and what the serving
	// goroutine learnt (the last endpoint tried, the retries before it,
	// the local reply's or the failure's code).
	moved    [2]atomic.Int64
	endpoint string
	retries  int
	reply    string
}

// attach publishes the endpoint connection; false (and c closed) when the
// session already ended.
func (s *session) attach(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why != endNone {
		c.Close()
		return false
	}
	s.upstream = c
	return true
}

// end closes the session's connections for why, unless it already ended.
// A failure is passed on as a reset: a client whose endpoint broke off
// mid-stream must not mistake the truncated stream for a complete one.
func (s *session) end(why endReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why != endNone {
		return
	}
	s.why = why
	close(s.done)
	switch why {
	case endFailed:
		// Asked before closing: once closed, the socket's state is gone.
		// An endpoint that sent EOF finished cleanly, whatever followed.
		s.upstreamBroke = !s.eof[toClient].Load() && broken(s.upstream)
		resetOnClose(s.client)
		resetOnClose(s.upstream)
	case endRefused:
		resetOnClose(s.client)
	}
	s.closer.Close()
	if s.upstream != nil {
		s.upstream.Close()
	}
}

// relay copies both ways until the session ends: both directions reached
// EOF (with half-close in between), the pair went idle, either side
// failed, or the drain ended it. It returns what the endpoint's attempt
// ends with: the endpoint's own failure only when its side broke.
func (s *session) relay(idle time.Duration) upstream.Outcome {
	s.idle, s.slice, s.base = idle, idle/checksPerIdle, time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.pipe(toUpstream, s.upstream, s.client)
	}()
	s.pipe(toClient, s.client, s.upstream)
	<-done

	s.mu.Lock()
	why, broke := s.why, s.upstreamBroke
	s.mu.Unlock()
	switch {
	case why == endShutdown:
		return upstream.Failed(upstream.ClientGone)
	case why == endFailed && broke:
		return upstream.Failed(upstream.Reset)
	case why == endFailed:
		return upstream.Failed(upstream.ClientGone) // the client's side broke
	}
	return upstream.Answer(statusOK)
}

// pipe copies src to dst until src's EOF, then half-closes dst (the other
// direction goes on), or until the session ends.
//
// Zero copy vs the idle timeout: io.Copy between two *net.TCPConn values
// becomes splice(2) on Linux, and no byte passes through this code, so there
// is nothing to count activity with; wrapping a conn to count would lose
// splice. Instead each io.Copy runs under a read deadline of idle/4 on src.
// A read deadline never loses data (splice moves nothing on a timed-out
// read) and io.Copy reports how much it moved before the deadline, so after
// each slice the pair's last-activity time is refreshed when bytes moved,
// and the pair is closed once neither direction moved any for idle. The
// cost is one wake-up per direction per slice, and the check's resolution:
// a pair is closed between idle and 1.25×idle after its last byte.
//
// A read deadline does not interrupt a write blocked on a peer that stopped
// reading; such a direction moves nothing, so the other direction's checks
// close the pair (after its EOF the other direction's goroutine stays as a
// watchdog for this reason, see finish). Write deadlines are never set: one
// that fires mid-splice drops the bytes in splice's pipe. The limit of the
// design: progress is seen per splice round (up to 1 MiB), so a reader that
// drains less than one round within idle_timeout counts as idle.
func (s *session) pipe(dir int, dst, src net.Conn) {
	if s.idle <= 0 {
		n, err := io.Copy(dst, src)
		s.moved[dir].Add(n)
		s.finish(dir, dst, err)
		return
	}
	for {
		src.SetReadDeadline(time.Now().Add(s.slice))
		n, err := io.Copy(dst, src)
		s.moved[dir].Add(n)
		if n > 0 {
			s.last.Store(int64(time.Since(s.base)))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if s.idleFor() >= s.idle {
				s.end(endIdle)
				return
			}
			continue
		}
		s.finish(dir, dst, err)
		return
	}
}

// idleFor is how long ago a byte was last seen moving.
func (s *session) idleFor() time.Duration {
	return time.Since(s.base) - time.Duration(s.last.Load())
}

// finish ends one direction: an error ends the session; EOF half-closes
// dst and, when the other direction is done too, ends the session. Else
// this goroutine watches the pair for idleness until the session ends,
// since the other direction may be blocked in a write that no read
// deadline of its own interrupts.
func (s *session) finish(dir int, dst net.Conn, err error) {
	if err != nil {
		s.end(endFailed) // a no-op when the session was ended elsewhere
		return
	}
	s.eof[dir].Store(true)
	cw, ok := dst.(interface{ CloseWrite() error })
	if !ok || s.eof[1-dir].Load() {
		// Both directions are done, or dst cannot half-close: close both.
		// (Of two directions finishing at once, at least one sees the
		// other's flag.)
		s.end(endDone)
		return
	}
	cw.CloseWrite()
	if s.idle <= 0 {
		<-s.done
		return
	}
	t := time.NewTicker(s.slice)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if s.idleFor() >= s.idle {
				s.end(endIdle)
				return
			}
		}
	}
}

// resetOnClose makes closing c send a reset instead of a FIN.
func resetOnClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}
