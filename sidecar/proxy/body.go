package proxy

import (
	"io"
	"net/http"
	"sync"
)

// copyBufferSize matches io.Copy's default; pooled so a request does not
// allocate 32 KiB (research/performance.md pitfall 3).
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// streamBody copies the upstream response body to the client as it
// arrives, flushing after every read when flush is set (bodies of unknown
// length: streams, server-sent events). It tells apart a failure reading the
// upstream (the endpoint's fault) from a failure writing to the client.
func streamBody(w http.ResponseWriter, body io.Reader, flush bool) (readErr, writeErr error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if flush && flusher != nil {
				flusher.Flush()
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
