package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// Byte classes. tchar is RFC 9110 §5.6.2; hostChar is what may appear in
// uri-host [":" port] (RFC 3986 §3.2.2: unreserved, sub-delims, pct-encoded,
// IP-literal brackets) — notably no "/", "@", "\", space or CTL.
var tchar, hostChar [256]bool

func init() {
	for c := '0'; c <= '9'; c++ {
		tchar[c], hostChar[c] = true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		tchar[c], hostChar[c] = true, true
		tchar[c-'a'+'A'], hostChar[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tchar[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:[]%" {
		hostChar[c] = true
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether s is a valid field-value: no CTL except
// HTAB, no DEL (RFC 9110 §5.5). NUL, CR and LF in particular are what
// response-splitting and smuggling attacks use.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostChar[s[i]] {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseFieldLine splits one header or trailer field line (CRLF removed).
func parseFieldLine(line string) (name, value string, err *RequestError) {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold, or whitespace between the start-line and the first
		// field: RFC 9112 §5.2 and §2.2 allow rejecting both, and folding is
		// a known way to make two parsers disagree on a value.
		return "", "", badRequest(reasonObsFold)
	}
	i := strings.IndexByte(line, ':')
	if i < 0 {
		return "", "", badRequest(reasonFieldLine)
	}
	name = line[:i]
	if name == "" {
		return "", "", badRequest(reasonFieldName)
	}
	if c := name[len(name)-1]; c == ' ' || c == '\t' {
		// RFC 9112 §5.1: a server MUST reject whitespace between the field
		// name and the colon with 400 (some parsers strip it, some do not).
		return "", "", badRequest(reasonSpaceBeforeColn)
	}
	if !isToken(name) {
		return "", "", badRequest(reasonFieldName)
	}
	value = trimOWS(line[i+1:])
	if !validFieldValue(value) {
		return "", "", badRequest(reasonFieldValue)
	}
	return canonicalKey(name), value, nil
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a name already
// checked to be a token: a name already in canonical form (as nearly
// every sender writes them) is returned as it is after one pass; only
// others go to textproto, which also interns the common ones.
func canonicalKey(s string) string {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return textproto.CanonicalMIMEHeaderKey(s)
		}
		upper = c == '-'
	}
	return s
}

// parseFields parses a head's field lines s (each ending in CRLF, the last
// line empty) with parseFieldLine's rules, for requests and answers alike.
// Single-valued fields share one backing array, so a head costs a map and
// two allocations however many fields it has.
func parseFields(s string) (http.Header, *RequestError) {
	n := strings.Count(s, "\n") - 1
	h := make(http.Header, n)
	strs := make([]string, n) // backing arrays for single-valued fields
	for s != "\r\n" {
		j := strings.IndexByte(s, '\n')
		name, value, rerr := parseFieldLine(s[:j-1])
		if rerr != nil {
			return nil, rerr
		}
		s = s[j+1:]
		if vv := h[name]; vv != nil {
			h[name] = append(vv, value)
		} else {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			h[name] = vv
		}
	}
	return h, nil
}

var errLineTooLong = errors.New("h1: line too long")

// appendLine appends the next line, through its LF, to buf, never letting
// buf grow past limit bytes (errLineTooLong). It reads from br with
// ReadSlice, so memory is bounded by limit plus br's buffer.
func appendLine(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > limit {
			return buf, errLineTooLong
		}
		buf = append(buf, frag...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// headFault is what is wrong with a head's lines, for the caller to turn
// into its own error (a request's *RequestError, an answer's
// *ProtocolError).
type headFault uint8

const (
	faultNone      headFault = iota
	faultTooLong             // the head is longer than allowed
	faultBareLF              // a line ends in LF without CR
	faultBareCR              // a CR that does not end a line
	faultEmptyLine           // more empty lines before the first line than allowed
)

// readHeadLines reads a message head's lines into buf, through the empty
// line that ends it, at most max bytes, checking line endings as it goes:
// the one line reader of both directions (requests and answers). Up to
// skipEmpty empty lines before the first line are dropped. At EOF before
// any byte it returns io.EOF; at EOF inside the head, io.ErrUnexpectedEOF;
// other read errors as they are.
func readHeadLines(br *bufio.Reader, buf []byte, max, skipEmpty int) ([]byte, headFault, error) {
	for {
		start := len(buf)
		var err error
		buf, err = appendLine(br, buf, max)
		switch {
		case err == errLineTooLong:
			return buf, faultTooLong, nil
		case err == io.EOF && len(buf) == 0:
			return buf, faultNone, io.EOF
		case err != nil:
			return buf, faultNone, eofToUnexpected(err)
		}
		line := buf[start:]
		if bareLF, bareCR := checkCRLF(line); bareLF {
			return buf, faultBareLF, nil
		} else if bareCR {
			return buf, faultBareCR, nil
		}
		if len(line) != 2 {
			continue
		}
		if start > 0 {
			return buf, faultNone, nil // the empty line that ends the head
		}
		if skipEmpty == 0 {
			return buf, faultEmptyLine, nil
		}
		skipEmpty--
		buf = buf[:0]
	}
}

// readLine returns the next line through its LF, at most limit bytes. The
// result aliases br's buffer or *scratch and is valid until the next read.
func readLine(br *bufio.Reader, limit int, scratch *[]byte) ([]byte, error) {
	frag, err := br.ReadSlice('\n')
	if len(frag) > limit {
		return nil, errLineTooLong
	}
	if err != bufio.ErrBufferFull {
		return frag, err
	}
	buf := append((*scratch)[:0], frag...)
	buf, err = appendLine(br, buf, limit)
	*scratch = buf[:0]
	return buf, err
}

// checkCRLF checks that line (which ends in LF) ends in CRLF and has no
// other CR. A bare LF or CR is a line terminator for some parsers and not
// for others; RFC 9112 §2.2 lets a server reject them, and we do.
func checkCRLF(line []byte) (bareLF, bareCR bool) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return true, false
	}
	return false, bytes.IndexByte(line[:n-2], '\r') >= 0
}

// eofToUnexpected maps io.EOF in the middle of a message to
// io.ErrUnexpectedEOF.
func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseContentLength collapses all Content-Length values — repeated fields
// or a list in one field — into one (RFC 9110 §8.6: identical values may be
// collapsed, differing ones are an unrecoverable error). Every element must
// be 1*DIGIT: no sign, no inner space, no hex, and must fit in an int64.
func parseContentLength(vals []string) (n int64, canonical bool, err *RequestError) {
	n, canonical = -1, len(vals) == 1
	for _, v := range vals {
		for {
			elem, rest, more := strings.Cut(v, ",")
			if more {
				canonical = false
			}
			elem = trimOWS(elem)
			if elem == "" || len(elem) > 19 {
				return 0, false, badRequest(reasonBadCL)
			}
			for i := 0; i < len(elem); i++ {
				if elem[i] < '0' || elem[i] > '9' {
					return 0, false, badRequest(reasonBadCL)
				}
			}
			x, perr := strconv.ParseInt(elem, 10, 64)
			if perr != nil {
				return 0, false, badRequest(reasonBadCL)
			}
			if n >= 0 && x != n {
				return 0, false, badRequest(reasonConflictingCL)
			}
			n = x
			if !more {
				break
			}
			v = rest
		}
	}
	return n, canonical, nil
}

// hasToken reports whether the comma-separated lists in vals contain tok
// (case-insensitive), as for Connection.
func hasToken(vals []string, tok string) bool {
	for _, v := range vals {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(trimOWS(elem), tok) {
				return true
			}
		}
	}
	return false
}

// messageFraming reads how a message's body is delimited (RFC 9112 §6),
// by the same rules in both directions, requests read by the server and
// responses read by the client:
//
//   - both Content-Length and Transfer-Encoding: an error (§6.1: "ought to
//     be handled as an error"; one hop honouring CL and the next TE is
//     request smuggling, and on a pooled upstream connection a desync);
//   - Transfer-Encoding in an HTTP/1.0 message: an error (§6.1);
//   - Transfer-Encoding other than exactly one "chunked": an error
//     ("chunked, chunked", "gzip, chunked" or repeated fields are parsed
//     differently by different servers; HAProxy's http_transfer_encoding.vtc);
//   - Content-Length: every value the same non-negative decimal.
//
// length is -1 when the message has neither field. canonical is false when
// the Content-Length fields were not a single plain value.
func messageFraming(h http.Header, http10 bool) (chunked bool, length int64, canonical bool, err *RequestError) {
	cls, tes := h["Content-Length"], h["Transfer-Encoding"]
	if len(cls) > 0 && len(tes) > 0 {
		return false, 0, false, badRequest(reasonCLAndTE)
	}
	if len(tes) > 0 {
		if http10 {
			return false, 0, false, badRequest(reasonTEInHTTP10)
		}
		if len(tes) != 1 || !strings.EqualFold(tes[0], "chunked") {
			return false, 0, false, badRequest(reasonBadTE)
		}
		return true, -1, true, nil
	}
	if len(cls) == 0 {
		return false, -1, true, nil
	}
	n, canonical, rerr := parseContentLength(cls)
	if rerr != nil {
		return false, 0, false, rerr
	}
	return false, n, canonical, nil
}
