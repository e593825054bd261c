package h1

import (
	"bufio"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// body is a request body delimited by Content-Length or chunked coding.
//
// Read and Close may be called from any goroutine; calls are serialized by
// mu (a proxy may read the body on a transport goroutine while the handler
// writes the response). The atomics are for the response writer, which must
// learn the body's state without waiting for a Read blocked on the network.
type body struct {
	br             *bufio.Reader
	chunked        bool
	expectContinue bool // the client waits for 100 Continue before sending

	mu          sync.Mutex
	remaining   int64       // CL: bytes left; chunked: bytes left in this chunk
	needCRLF    bool        // chunked: a chunk's data ended, its CRLF is next
	extBytes    int         // chunked: chunk-extension bytes seen so far
	trailer     http.Header // chunked: r.Trailer, filled at EOF
	maxTrailer  int
	scratch     []byte
	closed      bool
	err         error  // sticky; io.EOF once fully read
	onFirstRead func() // server: send 100 Continue
	onEOF       func() // server: start watching for client disconnect

	eof    atomic.Bool  // fully read
	failed atomic.Bool  // a read error other than EOF
	unread atomic.Int64 // CL bytes not yet read; -1 for chunked
}

// maxDrain is how much unread body the server discards after the handler
// returns to keep the connection; beyond that it closes (as net/http).
const maxDrain = 256 << 10

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if f := b.onFirstRead; f != nil {
		b.onFirstRead = nil
		f()
	}
	return b.readLocked(p)
}

// Close marks the body closed; later Reads fail. Unread data is left for
// the server, which drains or closes the connection after the handler.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// readErr returns the sticky read error (io.EOF once fully read).
func (b *body) readErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *body) readLocked(p []byte) (n int, err error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readFixed(p)
	}
	if err != nil {
		b.setErr(err)
	}
	return n, err
}

func (b *body) setErr(err error) {
	b.err = err
	if err != io.EOF {
		b.failed.Store(true)
		return
	}
	b.eof.Store(true)
	if f := b.onEOF; f != nil {
		b.onEOF = nil
		f()
	}
}

func (b *body) readFixed(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	b.unread.Store(b.remaining)
	if b.remaining == 0 {
		// Report EOF with the last bytes so the server learns early that
		// the body is done (and starts watching for a disconnect).
		return n, io.EOF
	}
	return n, eofToUnexpected(err)
}

// drainAndClose is called by the server after the handler returned: it
// closes the body to the handler, then discards up to maxDrain unread bytes.
// It reports whether the body ended cleanly, i.e. the connection can carry
// another request.
func (b *body) drainAndClose() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.onFirstRead, b.onEOF = nil, nil
	var total int64
	for b.err == nil {
		if total > maxDrain {
			return false
		}
		if b.chunked && b.remaining == 0 {
			if err := b.nextChunk(); err != nil {
				b.setErr(err)
				break
			}
			continue
		}
		if !b.chunked && b.remaining == 0 {
			b.setErr(io.EOF)
			break
		}
		n, err := b.br.Discard(int(min(b.remaining, maxDrain+1-total)))
		total += int64(n)
		b.remaining -= int64(n)
		if b.chunked && b.remaining == 0 {
			b.needCRLF = true
		}
		if err != nil {
			b.setErr(eofToUnexpected(err))
		}
	}
	return b.err == io.EOF
}
