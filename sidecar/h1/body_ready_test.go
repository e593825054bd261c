package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestChunkReady(t *testing.T) {
	for _, c := range []struct {
		buf      string
		needCRLF bool
		want     bool
	}{
		{"", false, false},
		{"", true, false},
		{"\r\n", true, false},
		{"\r", true, false},
		{"\r\n5\r\n", true, false}, // the size, but none of the data
		{"\r\n5\r\nh", true, true},
		{"5", false, false},
		{"5\r\nhello", false, true},
		{"10;ext=1\r\nx", false, true},
		{"10\r\n", false, false},
		{"0\r\n", false, false}, // the last chunk, the trailer section still due
		{"\r\n0\r\n", true, false},
		{"0\r\n\r", false, false},
		{"0\r\n\r\n", false, true},
		{"\r\n0\r\n\r\n", true, true},
		{"00\r\n\r\n", false, true},
		{"0;a=b\r\n\r\n", false, true},
		{"0\r\nX-Sum: 1\r\n", false, false},
		{"0\r\nX-Sum: 1\r\n\r\n", false, true},
		{"0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n", false, true},
	} {
		if got := chunkReady([]byte(c.buf), c.needCRLF); got != c.want {
			t.Errorf("chunkReady(%q, needCRLF %v) = %v, want %v", c.buf, c.needCRLF, got, c.want)
		}
	}
}

// segReader hands out its segments one Read at a time and counts the
// Reads: a Read of it stands for a read of the connection, which may wait.
type segReader struct {
	segs  []string
	reads int
}

func (r *segReader) Read(p []byte) (int, error) {
	r.reads++
	if len(r.segs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.segs[0])
	if r.segs[0] = r.segs[0][n:]; r.segs[0] == "" {
		r.segs = r.segs[1:]
	}
	return n, nil
}

const readyMessage = "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"

// Ready never says a Read will not wait when it then reads the
// connection: the message arrives in two pieces, split at every byte, and
// is read in small Reads.
func TestBodyReadyNeverBeforeAWait(t *testing.T) {
	for k := 0; k <= len(readyMessage); k++ {
		src := &segReader{segs: []string{readyMessage[:k], readyMessage[k:]}}
		b := &body{br: bufio.NewReader(src), chunked: true, trailer: http.Header{}, maxTrailer: 1 << 10}
		var got strings.Builder
		p := make([]byte, 3)
		for i := 0; ; i++ {
			if i > 100 {
				t.Fatalf("split %d: no EOF after %d reads", k, i)
			}
			ready, reads := b.Ready(), src.reads
			n, err := b.Read(p)
			got.Write(p[:n])
			if ready && src.reads != reads {
				t.Fatalf("split %d, read %d: Ready said true, the Read read the connection", k, i)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("split %d: %v", k, err)
			}
		}
		if got.String() != "hello world" || b.trailer.Get("X-Sum") != "1" {
			t.Fatalf("split %d: body %q trailer %v", k, got.String(), b.trailer)
		}
		if !b.Ready() {
			t.Fatalf("split %d: Ready false after EOF", k)
		}
	}
}

// A body that arrived whole is Ready all through: chunked (with its last
// chunk and trailers) and fixed length.
func TestBodyReadyWhenAllBuffered(t *testing.T) {
	for _, c := range []struct {
		name string
		b    func(br *bufio.Reader) *body
		msg  string
	}{
		{"chunked", func(br *bufio.Reader) *body {
			return &body{br: br, chunked: true, trailer: http.Header{}, maxTrailer: 1 << 10}
		}, readyMessage},
		{"fixed", func(br *bufio.Reader) *body { return &body{br: br, remaining: 11} }, "hello world"},
	} {
		src := &segReader{segs: []string{c.msg}}
		br := bufio.NewReader(src)
		br.Peek(1) // the segment is in the buffer
		b := c.b(br)
		p := make([]byte, 4)
		for i := 0; ; i++ {
			if i > 100 {
				t.Fatalf("%s: no EOF", c.name)
			}
			if !b.Ready() {
				t.Fatalf("%s: Ready false before read %d with everything buffered", c.name, i)
			}
			if _, err := b.Read(p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
	}
}

// countWriter counts Writes: under a bufio.Writer, each is one write of
// the connection.
type countWriter struct {
	strings.Builder
	writes int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Builder.Write(p)
}

// pieces is a request body read in fixed pieces; with ready set, it is a
// ReadyReader whose answer ready gives.
type pieces struct {
	parts  []string
	onRead func() // before each Read
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.onRead != nil {
		p.onRead()
	}
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	p.parts = p.parts[1:]
	return n, nil
}

func (*pieces) Close() error { return nil }

type readyPieces struct {
	pieces
	ready func() bool
}

func (p *readyPieces) Ready() bool { return p.ready() }

func chunkedPost(body io.ReadCloser) *http.Request {
	req, _ := http.NewRequest("POST", "http://up/x", nil)
	req.Body, req.ContentLength = body, -1
	return req
}

// writeChunked flushes only before a Read that would wait: a body whose
// pieces are all buffered leaves with the head in one write; one that
// cannot tell is flushed per chunk, as before; one whose next piece is not
// there has its last piece on the wire before the Read that waits.
func TestWriteChunkedFlushesOnlyBeforeAWait(t *testing.T) {
	const want = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	t.Run("all buffered", func(t *testing.T) {
		w := &countWriter{}
		body := &readyPieces{pieces: pieces{parts: []string{"hello", " world"}}, ready: func() bool { return true }}
		if err := writeRequest(bufio.NewWriterSize(w, bufSize), chunkedPost(body)); err != nil {
			t.Fatal(err)
		}
		if w.writes != 1 || !strings.HasSuffix(w.String(), "\r\n\r\n"+want) {
			t.Fatalf("%d writes of %q, want 1", w.writes, w.String())
		}
	})
	t.Run("cannot tell", func(t *testing.T) {
		w := &countWriter{}
		if err := writeRequest(bufio.NewWriterSize(w, bufSize), chunkedPost(&pieces{parts: []string{"hello", " world"}})); err != nil {
			t.Fatal(err)
		}
		if w.writes != 3 || !strings.HasSuffix(w.String(), want) {
			t.Fatalf("%d writes of %q, want 3", w.writes, w.String())
		}
	})
	t.Run("next piece not there", func(t *testing.T) {
		w := &countWriter{}
		reads := 0
		body := &readyPieces{ready: func() bool { return false }}
		body.pieces = pieces{parts: []string{"hello", " world"}, onRead: func() {
			if reads++; reads == 2 && !strings.HasSuffix(w.String(), "5\r\nhello\r\n") {
				t.Errorf("second Read with %q on the wire: the first chunk waits for it", w.String())
			}
		}}
		if err := writeRequest(bufio.NewWriterSize(w, bufSize), chunkedPost(body)); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(w.String(), want) {
			t.Fatalf("wrote %q", w.String())
		}
	})
}

// The server's request body is a ReadyReader: relayed by the client, a
// chunked body that arrived with its head leaves in one write.
func TestRelayedRequestBodyIsOneWrite(t *testing.T) {
	type result struct {
		writes int
		out    string
		err    error
	}
	got := make(chan result, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countWriter{}
		err := writeRequest(bufio.NewWriterSize(cw, bufSize), chunkedPost(r.Body))
		got <- result{cw.writes, cw.String(), err}
	}))
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + readyMessage)
	c.response("POST")
	r := <-got
	if r.err != nil || r.writes != 1 || !strings.HasSuffix(r.out, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") {
		t.Fatalf("%d writes of %q (%v), want 1", r.writes, r.out, r.err)
	}
}

// An answer's body is Ready while what the next Read needs is buffered,
// and not once the rest has yet to come: chunked and close-delimited.
func TestUpBodyReady(t *testing.T) {
	for _, c := range []struct {
		name         string
		first, last  string // written apart; the client reads "abc" in between
		wantReadyEnd bool   // Ready after "def" was read: the end is buffered too
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "3\r\ndef\r\n0\r\n\r\n", true},
		{"to the close", "HTTP/1.1 200 OK\r\n\r\nabc", "def", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			next := make(chan struct{})
			addr := rawUpstream(t, func(conn net.Conn) {
				readHeadOf(conn)
				io.WriteString(conn, c.first)
				select {
				case <-next:
					io.WriteString(conn, c.last)
				case <-time.After(testTimeout):
				}
			})
			cl := testClient()
			defer cl.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			resp, err := cl.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rr := resp.Body.(ReadyReader)
			p := make([]byte, 16)
			if !rr.Ready() {
				t.Fatal("Ready false with \"abc\" buffered")
			}
			if n, _ := resp.Body.Read(p); string(p[:n]) != "abc" {
				t.Fatalf("read %q", p[:n])
			}
			if rr.Ready() {
				t.Fatal("Ready true with nothing more buffered")
			}
			close(next)
			if n, _ := io.ReadFull(resp.Body, p[:3]); string(p[:n]) != "def" {
				t.Fatalf("read %q", p[:n])
			}
			if got := rr.Ready(); got != c.wantReadyEnd {
				t.Fatalf("Ready at the end %v, want %v", got, c.wantReadyEnd)
			}
			if n, err := resp.Body.Read(p); n != 0 || err != io.EOF {
				t.Fatalf("after the body: %d, %v", n, err)
			}
			if !rr.Ready() {
				t.Fatal("Ready false after EOF")
			}
		})
	}
}

// readHeadOf reads a request head without a body from c, a byte at a time
// (nothing after it is taken from the connection).
func readHeadOf(c net.Conn) {
	var head []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(b); err != nil {
			return
		}
		head = append(head, b[0])
	}
}
