package proxy

import (
	"io"
	"net/http"
	"sync"

	"github.com/outrigger-mesh/outrigger/sidecar/h1"
)

// copyBufferSize matches io.Copy's default; pooled so a request does not
// allocate 32 KiB (a known cost of httputil.ReverseProxy without a
// BufferPool).
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// streamBody copies the upstream response body to the client as it
// arrives. With flush set (bodies of unknown length: streams, server-sent
// events) what was written — the head included — is flushed before a Read
// of the upstream that would wait, so no piece waits for the next; a body
// that can tell (h1.ReadyReader) that its next piece or its end is
// already buffered is not flushed in between, so an answer that arrived
// whole goes out in one write, its last chunk included (the server writes
// that when the handler returns). Every write is bounded by the client's
// deadlines (cs). It tells apart a failure reading the upstream (the
// endpoint's fault) from a failure writing to the client.
func streamBody(cs *clientSide, w http.ResponseWriter, body io.Reader, flush bool) (readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	if !flush {
		flusher = nil
	}
	ready, _ := body.(h1.ReadyReader)
	pending := true // the head may still be in the buffers
	for {
		if pending && flusher != nil && (ready == nil || !ready.Ready()) {
			// The write deadline is the one armed for the write just
			// made (or for the head): nothing waited since.
			pending = false
			live := cs.ctx.Err() == nil
			if ferr := flushError(flusher); ferr != nil {
				return nil, ferr
			}
			if werr := cs.wrote(live); werr != nil {
				return nil, werr
			}
		}
		n, err := body.Read(buf)
		if n > 0 {
			cs.beforeWrite()
			live := cs.ctx.Err() == nil
			nw, werr := w.Write(buf[:n])
			cs.written += int64(nw)
			if werr != nil {
				return nil, werr
			}
			if werr := cs.wrote(live); werr != nil {
				return nil, werr
			}
			pending = true
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// flushError flushes, reporting the error when the writer can (a client
// that stopped reading fails the flush, not only the next write).
func flushError(f http.Flusher) error {
	if fe, ok := f.(interface{ FlushError() error }); ok {
		return fe.FlushError()
	}
	f.Flush()
	return nil
}
