package accesslog

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Formats of access_log.format.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// timeLayout is RFC 3339 with milliseconds; times are written in UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// AppendJSON appends e as one JSON object and a newline. Keys come in the
// order of docs/access-log.md; every string is escaped so that no byte a
// client chose (a path with "\n", "\u2028" or invalid UTF-8) can end the
// line or the object early.
func AppendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","listener":`...)
	b = appendJSONString(b, e.Listener)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.Upstream)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.Duration)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, `,"endpoint":`...)
	b = appendJSONString(b, e.Endpoint)
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(e.Retries), 10)
	b = append(b, `,"error":`...)
	b = appendJSONString(b, e.Error)
	b = append(b, `,"trace_id":"`...)
	b = appendTraceID(b, e.TraceID)
	b = append(b, `","client":`...)
	b = appendJSONString(b, e.Client)
	return append(b, "}\n"...)
}

// AppendText appends e as one line of key=value pairs, in the same order
// as AppendJSON. A value is quoted (Go syntax, strconv.Quote) when it is
// empty or holds anything but printable characters other than space,
// '"', '=' and '\': a quoted value has every control character, invalid
// UTF-8 byte and line separator escaped, so the line cannot be broken.
func AppendText(b []byte, e *Entry) []byte {
	b = append(b, "time="...)
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = appendTextPair(b, " listener=", e.Listener)
	b = appendTextPair(b, " upstream=", e.Upstream)
	b = appendTextPair(b, " route=", e.Route)
	b = appendTextPair(b, " method=", e.Method)
	b = appendTextPair(b, " path=", e.Path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " duration_ms="...)
	b = appendMillis(b, e.Duration)
	b = append(b, " bytes_in="...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, " bytes_out="...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = appendTextPair(b, " endpoint=", e.Endpoint)
	b = append(b, " retries="...)
	b = strconv.AppendInt(b, int64(e.Retries), 10)
	b = appendTextPair(b, " error=", e.Error)
	b = append(b, " trace_id="...)
	if e.TraceID == ([16]byte{}) {
		b = append(b, `""`...)
	} else {
		b = appendTraceID(b, e.TraceID)
	}
	b = appendTextPair(b, " client=", e.Client)
	return append(b, '\n')
}

// appendMillis writes d in milliseconds with microsecond precision.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func appendTraceID(b []byte, id [16]byte) []byte {
	if id == ([16]byte{}) {
		return b
	}
	return hex.AppendEncode(b, id[:])
}

func appendTextPair(b []byte, key, v string) []byte {
	b = append(b, key...)
	if needsQuote(v) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}

// needsQuote reports whether a text value must be quoted to stay one
// token on one line.
func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"' and '\' escaped,
// control characters, DEL and U+2028/U+2029 (line separators to some
// readers) as \u escapes, and each byte of invalid UTF-8 as \ufffd, as
// encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
