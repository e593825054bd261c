package h1

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// DefaultMaxHeaderBytes is the head size limit used when
// Server.MaxHeaderBytes or ReadRequest's maxHeaderBytes is <= 0.
const DefaultMaxHeaderBytes = 64 << 10

// DefaultMaxHeaders is the limit on header lines used when
// Server.MaxHeaders is <= 0 (limits.max_request_headers).
const DefaultMaxHeaders = 100

// ReadRequest reads and strictly parses one request head from br and sets up
// its body reader, which reads from br. It is exported for tests and fuzzing;
// the Server uses the same code.
//
// The head — from the first byte of the request line through the empty line
// that ends it — may be at most maxHeaderBytes long (<= 0 means
// DefaultMaxHeaderBytes); longer is a 431 RequestError, detected while
// reading, so memory stays bounded. One empty line before the request line is
// skipped (RFC 9112 §2.2). Any other violation of RFC 9112 is a 400
// RequestError. At EOF before any byte it returns io.EOF; at EOF inside the
// head, io.ErrUnexpectedEOF; other read errors are returned as they are.
//
// The returned request has, like one from net/http's server, the Host field
// removed from Header (it is in r.Host) and Transfer-Encoding removed (it is in
// r.TransferEncoding); for a chunked request the Trailer field moves to the
// keys of r.Trailer; "Expect: 100-continue" is removed too (the server sends
// the 100 Continue itself). Repeated
// identical Content-Length values are collapsed to one. Connection is left in
// Header; r.Close says whether the connection may be kept alive. For a
// chunked request r.Trailer is a non-nil map (holding nil values for the
// names declared in a Trailer field) that is filled when the body reaches
// EOF; it is shared, not copied, by r.WithContext. Body read errors caused by
// malformed chunked framing are *RequestError with Status 400.
//
// ReadRequest does not set r.RemoteAddr or a context.
func ReadRequest(br *bufio.Reader, maxHeaderBytes int) (*http.Request, error) {
	req := new(http.Request)
	_, err := readRequest(br, maxHeaderBytes, DefaultMaxHeaders, nil, req)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// readRequest is ReadRequest into req (whose fields it sets, all of them but
// its context), with a reusable head buffer, returning the concrete body
// (nil when the request has none) for the server's hooks.
func readRequest(br *bufio.Reader, max, maxFields int, scratch *[]byte, req *http.Request) (*body, error) {
	if max <= 0 {
		max = DefaultMaxHeaderBytes
	}
	var buf []byte
	if scratch != nil {
		buf = (*scratch)[:0]
	}
	buf, err := readHead(br, buf, max)
	if scratch != nil && cap(buf) <= 8<<10 {
		*scratch = buf[:0] // keep a typical-size buffer for the next request
	}
	if err != nil {
		return nil, err
	}
	// One string for the whole head: names and values are substrings of it,
	// which keeps allocations to a handful per request.
	b, rerr := parseHead(string(buf), br, max, maxFields, req)
	if rerr != nil {
		return nil, rerr
	}
	return b, nil
}

// readHead reads a request head's lines into buf (readHeadLines): at most
// max bytes, and one empty line before the request line is skipped
// (RFC 9112 §2.2: a server SHOULD ignore at least one, which old clients
// send after a POST body; more is noise we refuse).
func readHead(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	buf, fault, err := readHeadLines(br, buf, max, 1)
	switch fault {
	case faultTooLong:
		return buf, tooLarge()
	case faultBareLF:
		return buf, badRequest(reasonBareLF)
	case faultBareCR:
		return buf, badRequest(reasonBareCR)
	case faultEmptyLine:
		return buf, badRequest(reasonEmptyLines)
	}
	return buf, err
}

// parseHead parses a complete head s (lines end in CRLF, last line empty)
// into req.
func parseHead(s string, br *bufio.Reader, max, maxFields int, req *http.Request) (*body, *RequestError) {
	i := strings.IndexByte(s, '\n')
	method, target, proto, rerr := parseRequestLine(s[:i-1])
	if rerr != nil {
		return nil, rerr
	}
	http11 := proto == "HTTP/1.1"
	u, rerr := parseTarget(method, target)
	if rerr != nil {
		return nil, rerr
	}

	rest := s[i+1:]
	if maxFields > 0 && strings.Count(rest, "\n")-1 > maxFields {
		// Many small fields cost a map entry and a slice each: a head
		// within MaxHeaderBytes can still be thousands of them.
		return nil, tooManyFields()
	}
	h, rerr := parseFields(rest)
	if rerr != nil {
		return nil, rerr
	}
	// Host lives in r.Host, as net/http's server has it.
	hosts := len(h["Host"])
	var host string
	if hosts > 0 {
		host = h["Host"][0]
		delete(h, "Host")
	}

	// RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any
	// request with more than one Host or an invalid one.
	switch {
	case hosts == 0 && http11:
		return nil, badRequest(reasonNoHost)
	case hosts > 1:
		return nil, badRequest(reasonManyHosts)
	case !validHost(host):
		return nil, badRequest(reasonBadHost)
	}
	if u.Host != "" {
		host = u.Host // RFC 9112 §3.2.2: the target's authority wins
	}

	req.Method = method
	req.URL = u
	req.Proto = proto
	req.ProtoMajor, req.ProtoMinor = 1, 1
	req.Header = h
	req.Host = host
	req.RequestURI = target
	if !http11 {
		req.ProtoMinor = 0
	}
	conn := h["Connection"]
	if http11 {
		req.Close = hasToken(conn, "close")
	} else {
		req.Close = !hasToken(conn, "keep-alive") || hasToken(conn, "close")
	}

	b, rerr := parseFraming(req, br, max)
	if rerr != nil {
		return nil, rerr
	}
	return b, nil
}

// parseRequestLine splits "METHOD SP request-target SP HTTP-version".
func parseRequestLine(line string) (method, target, proto string, err *RequestError) {
	sp1 := strings.IndexByte(line, ' ')
	sp2 := strings.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp1 == sp2 {
		return "", "", "", badRequest(reasonRequestLine)
	}
	method, target, proto = line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !isToken(method) {
		return "", "", "", badRequest(reasonMethod)
	}
	switch proto {
	case "HTTP/1.1", "HTTP/1.0":
	default:
		// HTTP-name is case-sensitive (RFC 9112 §2.3). HTTP/2's
		// prior-knowledge preface ("PRI * HTTP/2.0") lands here too.
		if strings.HasPrefix(proto, "HTTP/") {
			return "", "", "", badRequest(reasonVersion)
		}
		return "", "", "", badRequest(reasonRequestLine)
	}
	if target == "" {
		return "", "", "", badRequest(reasonRequestLine)
	}
	return method, target, proto, nil
}

// parseTarget checks the request-target's form against the method
// (RFC 9112 §3.2) and parses it.
func parseTarget(method, target string) (*url.URL, *RequestError) {
	for i := 0; i < len(target); i++ {
		// Spaces here mean extra words in the request line; CTLs are never
		// valid in a URI. A fragment is not part of any request-target form
		// and HAProxy treating "#" as part of the path was CVE-2023-45539.
		if c := target[i]; c <= ' ' || c == 0x7f || c == '#' {
			return nil, badRequest(reasonTarget)
		}
	}
	switch {
	case method == "CONNECT":
		// authority-form, only for CONNECT: uri-host ":" port.
		h, port, err := net.SplitHostPort(target)
		if err != nil || h == "" || port == "" || len(port) > 5 || !validHost(target) {
			return nil, badRequest(reasonTarget)
		}
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return nil, badRequest(reasonTarget)
			}
		}
		return &url.URL{Host: target}, nil
	case target == "*":
		if method != "OPTIONS" {
			return nil, badRequest(reasonTarget)
		}
		return &url.URL{Path: "*"}, nil
	case target[0] == '/':
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, badRequest(reasonTarget)
		}
		return u, nil
	case hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://"):
		u, err := url.ParseRequestURI(target)
		// RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid;
		// §4.2.4: treat userinfo as an error.
		if err != nil || u.Host == "" || u.User != nil || !validHost(u.Host) {
			return nil, badRequest(reasonTarget)
		}
		return u, nil
	}
	return nil, badRequest(reasonTarget)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseFraming decides how the body is delimited (RFC 9112 §6) and handles
// Expect.
func parseFraming(req *http.Request, br *bufio.Reader, max int) (*body, *RequestError) {
	h := req.Header
	chunked, cl, canonical, rerr := messageFraming(h, req.ProtoMinor == 0)
	if rerr != nil {
		return nil, rerr
	}
	if chunked {
		delete(h, "Transfer-Encoding")
	}
	if cl > 0 && !canonical {
		h["Content-Length"] = []string{strconv.FormatInt(cl, 10)}
	}

	expect := false
	if ex, ok := h["Expect"]; ok {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") {
			return nil, badRequest(reasonExpect)
		}
		delete(h, "Expect")
		// RFC 9110 §10.1.1: ignore 100-continue from an HTTP/1.0 client.
		expect = req.ProtoMinor == 1
	}

	switch {
	case chunked:
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		// As in net/http, the declared names move from Header to Trailer.
		req.Trailer = declaredTrailers(h["Trailer"])
		delete(h, "Trailer")
		b := &body{br: br, chunked: true, trailer: req.Trailer, maxTrailer: max, expectContinue: expect}
		b.unread.Store(-1)
		req.Body = b
		return b, nil
	case cl > 0:
		req.ContentLength = cl
		b := &body{br: br, remaining: cl, expectContinue: expect}
		b.unread.Store(cl)
		req.Body = b
		return b, nil
	}
	req.Body = http.NoBody
	return nil, nil
}

// declaredTrailers returns the map r.Trailer gets for a chunked request: the
// names announced in Trailer fields, with nil values, like net/http.
func declaredTrailers(vals []string) http.Header {
	t := make(http.Header)
	for _, v := range vals {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = trimOWS(name); isToken(name) {
				t[textproto.CanonicalMIMEHeaderKey(name)] = nil
			}
		}
	}
	return t
}
