package proxy

import (
	"io"
	"net/http"
	"sync"
)

// copyBufferSize matches io.Copy's default; pooled so a request does not
// allocate 32 KiB (a known cost of httputil.ReverseProxy without a
// BufferPool).
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// streamBody copies the upstream response body to the client as it
// arrives, flushing after every read when flush is set (bodies of unknown
// length: streams, server-sent events). Every write is bounded by the
// client's deadlines (cs). It tells apart a failure reading the upstream
// (the endpoint's fault) from a failure writing to the client.
func streamBody(cs *clientSide, w http.ResponseWriter, body io.Reader, flush bool) (readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			cs.beforeWrite()
			live := cs.ctx.Err() == nil
			nw, werr := w.Write(buf[:n])
			cs.written += int64(nw)
			if werr != nil {
				return nil, werr
			}
			if flush && flusher != nil {
				if ferr := flushError(flusher); ferr != nil {
					return nil, ferr
				}
			}
			if werr := cs.wrote(live); werr != nil {
				return nil, werr
			}
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
