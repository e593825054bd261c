package h1

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Review of e796815 (read deadlines only when they matter): COVERAGE — these
// held on review; they pin ReadHeaderTimeout in the sequences where the
// lazily kept idle deadline or a skipped head deadline could have let a
// slow head through.

// TestReviewReadHeaderTimeoutHoldsInEverySequence: a head that does not
// come whole is cut off at ReadHeaderTimeout (200 ms here, against a
// one-minute idle timeout), whatever came before it on the connection.
func TestReviewReadHeaderTimeoutHoldsInEverySequence(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			// Longer than bgReadDelay: the disconnect watch runs, and
			// moves the read deadline, during this request.
			<-time.After(3 * bgReadDelay)
		}
		io.WriteString(w, "ok")
	})
	const partial = "GET / HTTP/1.1\r\nHo"
	cases := []struct {
		name   string
		before string // requests answered first (one response each)
		nresp  int
		rest   string // then this, and a dribble
	}{
		{"fresh connection", "", 0, ""},
		{"a stray CRLF first", "", 0, "\r\n"},
		{"pipelined after a body upload", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" + partial, 1, ""},
		{"after a chunked upload", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, partial},
		{"after the disconnect watch ran", "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", 1, partial},
		{"after keep-alive requests whose heads came whole", "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 2, partial},
		{"a whole head and a partial one in one segment", "GET / HTTP/1.1\r\nHost: h\r\n\r\n" + partial, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, handler, func(s *Server) {
				s.IdleTimeout, s.ReadHeaderTimeout = time.Minute, 200*time.Millisecond
			})
			c := dial(t, addr)
			if tc.before != "" {
				c.send(tc.before)
				for range tc.nresp {
					if _, body := c.response("GET"); body != "ok" {
						t.Fatalf("answer %q", body)
					}
				}
			}
			c.send(tc.rest)
			// The attacker's pace: a byte of header every 20 ms, never
			// the end of the head, for at most 4 s.
			start := time.Now()
			for i := 0; i < 200; i++ {
				if _, err := io.WriteString(c.Conn, "x"); err != nil {
					break
				}
				<-time.After(20 * time.Millisecond)
				c.Conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				var b [1]byte
				if _, err := c.Conn.Read(b[:]); err == io.EOF {
					break
				}
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("a head dribbled byte by byte held the connection for %v (ReadHeaderTimeout 200ms)", d)
			}
		})
	}
}
