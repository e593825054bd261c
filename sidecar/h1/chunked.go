package h1

import (
	"io"
	"math"
)

const (
	// maxChunkExt bounds the chunk-extension bytes of a whole body. Nobody
	// sends extensions in practice; unbounded ones let a client make us
	// read far more than the body (CVE-2023-39326).
	maxChunkExt = 4 << 10
	// maxChunkLine bounds one chunk-size line: 16 hex digits, extensions,
	// CRLF.
	maxChunkLine = 16 + maxChunkExt + 2
)

// readChunked reads chunk data (RFC 9112 §7.1); mu is held.
func (b *body) readChunked(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for b.remaining == 0 {
		if err := b.nextChunk(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.needCRLF = true
	}
	// Mid-chunk, EOF is always premature: at least CRLF and the last chunk
	// are still due.
	return n, eofToUnexpected(err)
}

// nextChunk consumes the CRLF after the previous chunk's data, if due, and
// the next chunk-size line. On the last chunk it reads the trailer section
// and returns io.EOF. Otherwise it leaves b.remaining > 0.
func (b *body) nextChunk() error {
	if b.needCRLF {
		crlf, err := b.br.Peek(2)
		if err != nil {
			return eofToUnexpected(err)
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return badRequest(reasonChunkDataCRLF)
		}
		b.br.Discard(2)
		b.needCRLF = false
	}
	line, err := readLine(b.br, maxChunkLine, &b.scratch)
	if err == errLineTooLong {
		return badRequest(reasonChunkExtLong)
	}
	if err != nil {
		return eofToUnexpected(err)
	}
	// A bare LF ending the size line was CVE-2025-22871 (net/http accepted
	// it, proxies in front did not).
	if bareLF, bareCR := checkCRLF(line); bareLF {
		return badRequest(reasonChunkBareLF)
	} else if bareCR {
		return badRequest(reasonChunkBareCR)
	}
	line = line[:len(line)-2]

	var size int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i == 16 || size > math.MaxInt64>>4 {
			// More than 16 digits, or a value that overflows int64:
			// truncating it would let two parsers see different sizes.
			return badRequest(reasonChunkSizeLarge)
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return badRequest(reasonChunkSize)
	}
	if ext := line[i:]; len(ext) > 0 {
		b.extBytes += len(ext)
		if b.extBytes > maxChunkExt {
			return badRequest(reasonChunkExtLong)
		}
		if !validChunkExt(ext) {
			return badRequest(reasonChunkExt)
		}
	}
	if size == 0 {
		if err := b.readTrailers(); err != nil {
			return err
		}
		return io.EOF
	}
	b.remaining = size
	return nil
}

// readTrailers reads the trailer section into b.trailer, with the same field
// rules as the head and bounded by maxTrailer bytes.
func (b *body) readTrailers() error {
	left := b.maxTrailer
	for {
		line, err := readLine(b.br, left, &b.scratch)
		if err == errLineTooLong {
			return badRequest(reasonTrailerLarge)
		}
		if err != nil {
			return eofToUnexpected(err)
		}
		left -= len(line)
		if bareLF, bareCR := checkCRLF(line); bareLF {
			return badRequest(reasonChunkBareLF)
		} else if bareCR {
			return badRequest(reasonChunkBareCR)
		}
		if len(line) == 2 {
			return nil
		}
		name, value, rerr := parseFieldLine(string(line[:len(line)-2]))
		if rerr != nil {
			return rerr
		}
		b.trailer[name] = append(b.trailer[name], value)
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// validChunkExt checks
//
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-val = token / quoted-string
func validChunkExt(s []byte) bool {
	i := 0
	bws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() bool {
		j := i
		for i < len(s) && tchar[s[i]] {
			i++
		}
		return i > j
	}
	for i < len(s) {
		bws()
		if i == len(s) || s[i] != ';' {
			return false
		}
		i++
		bws()
		if !token() {
			return false
		}
		bws()
		if i == len(s) || s[i] != '=' {
			continue // no value; the loop wants ";" or the end next
		}
		i++
		bws()
		if i < len(s) && s[i] == '"' {
			if !quotedString(s, &i) {
				return false
			}
		} else if !token() {
			return false
		}
	}
	return true
}

// quotedString consumes an RFC 9110 §5.6.4 quoted-string at s[*i].
func quotedString(s []byte, i *int) bool {
	for j := *i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			*i = j + 1
			return true
		case c == '\\':
			j++
			if j == len(s) || (s[j] < ' ' && s[j] != '\t') || s[j] == 0x7f {
				return false
			}
		case (c < ' ' && c != '\t') || c == 0x7f:
			return false
		}
	}
	return false
}
