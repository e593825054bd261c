package h1

import "bytes"

// ReadyReader is a body that can tell whether its next Read will return
// without waiting for the network: some of its data, its end or a failure
// is already in the connection's read buffer. A writer that relays a
// stream flushes only before a Read that would wait, so pieces that arrived
// together leave together, in one write, and a piece that is not followed
// at once still leaves at once.
//
// Ready is called on the goroutine that reads the body, between Reads. It
// may answer false when it cannot tell (that costs a write, never a
// delay); it must never answer true before a Read that then waits.
//
// A wrapper around such a body (one that counts or bounds its reads)
// should pass Ready through, or the relay flushes after every Read.
type ReadyReader interface {
	Ready() bool
}

var (
	_ ReadyReader = (*body)(nil)
	_ ReadyReader = (*upBody)(nil)
)

// Ready reports whether the next Read returns without reading the
// connection (see ReadyReader).
func (b *body) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || b.closed {
		return true // the Read fails or ends at once
	}
	n := b.br.Buffered()
	if !b.chunked {
		return b.remaining == 0 || n > 0
	}
	if b.remaining > 0 {
		return n > 0
	}
	buf, _ := b.br.Peek(n) // n <= Buffered: never reads
	return chunkReady(buf, b.needCRLF)
}

// chunkReady reports whether buf, the buffered bytes at a chunk boundary,
// holds enough for nextChunk to finish without reading: the CRLF ending
// the previous chunk's data (if due) and a whole size line followed by a
// data byte, or by the whole trailer section on the last chunk. It looks
// only for the line ends; a malformed line makes nextChunk fail, which
// does not wait either, and answering false for it only costs a flush.
func chunkReady(buf []byte, needCRLF bool) bool {
	if needCRLF {
		if len(buf) < 2 {
			return false
		}
		buf = buf[2:]
	}
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return false
	}
	line, rest := buf[:i], buf[i+1:]
	last := len(line) > 0 && line[0] == '0'
	for _, c := range line {
		if c == ';' || c == '\r' || c == ' ' || c == '\t' {
			break
		}
		if c != '0' {
			last = false
			break
		}
	}
	if !last {
		return len(rest) > 0
	}
	// The last chunk: the trailer section ends with an empty line, which
	// is either right here or follows a field line's CRLF.
	return bytes.HasPrefix(rest, []byte("\r\n")) || bytes.Contains(rest, []byte("\r\n\r\n"))
}
