package accesslog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sampleEntry() Entry {
	return Entry{
		Time:     time.Date(2026, 11, 25, 1, 2, 3, 456_789_000, time.FixedZone("CET", 3600)),
		Listener: "edge",
		Upstream: "payments",
		Route:    "api",
		Method:   "GET",
		Path:     "/pay?id=1&x=%20y",
		Status:   200,
		Duration: 1234567 * time.Nanosecond,
		BytesIn:  12,
		BytesOut: 1024,
		Endpoint: "10.0.0.5:8080",
		Retries:  1,
		Error:    "",
		TraceID:  [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		Client:   "127.0.0.1:50000",
	}
}

func TestAppendJSONExact(t *testing.T) {
	e := sampleEntry()
	got := string(AppendJSON(nil, &e))
	want := `{"time":"2026-11-25T00:02:03.456Z","listener":"edge","upstream":"payments","route":"api","method":"GET","path":"/pay?id=1&x=%20y","status":200,"duration_ms":1.235,"bytes_in":12,"bytes_out":1024,"endpoint":"10.0.0.5:8080","retries":1,"error":"","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","client":"127.0.0.1:50000"}` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendTextExact(t *testing.T) {
	e := sampleEntry()
	e.Listener, e.Route, e.TraceID = "", "", [16]byte{}
	e.Error = "retry_budget_exhausted"
	got := string(AppendText(nil, &e))
	want := `time=2026-11-25T00:02:03.456Z listener="" upstream=payments route="" method=GET path="/pay?id=1&x=%20y" status=200 duration_ms=1.235 bytes_in=12 bytes_out=1024 endpoint=10.0.0.5:8080 retries=1 error=retry_budget_exhausted trace_id="" client=127.0.0.1:50000` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// The keys, in the order docs/access-log.md lists them.
var jsonKeys = []string{"time", "listener", "upstream", "route", "method", "path", "status",
	"duration_ms", "bytes_in", "bytes_out", "endpoint", "retries", "error", "trace_id", "client"}

func TestAppendJSONKeyOrder(t *testing.T) {
	e := sampleEntry()
	dec := json.NewDecoder(bytes.NewReader(AppendJSON(nil, &e)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("first token %v, %v", tok, err)
	}
	for i := 0; dec.More(); i++ {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(jsonKeys) || key != jsonKeys[i] {
			t.Fatalf("key %d is %v, want %v", i, key, jsonKeys)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
}

// Hostile values a client chooses (the path, the method on HTTP/2) never
// break a line, in either format, and come back intact from the JSON.
func TestHostileValuesStayOnOneLine(t *testing.T) {
	for _, path := range []string{
		"/a\nb",
		"/a\r\nfake: line",
		"/a\"b\\c",
		`/a","status":200,"x":"`,
		"/a%0Ab%0D%0A",
		"/\xff\xfe\x80bad-utf8",
		"/line\u2028sep\u2029para",
		"/tab\there\x00nul\x1besc\x7fdel",
		"/a b=c d",
		"",
	} {
		t.Run(strconv.Quote(path), func(t *testing.T) {
			e := sampleEntry()
			e.Path, e.Method = path, path
			for _, format := range []string{FormatJSON, FormatText} {
				line := AppendJSON(nil, &e)
				if format == FormatText {
					line = AppendText(nil, &e)
				}
				checkOneLine(t, format, line)
				if format == FormatJSON {
					var got map[string]any
					if err := json.Unmarshal(line, &got); err != nil {
						t.Fatalf("json: %v: %s", err, line)
					}
					if want := jsonRoundTrip(t, path); got["path"] != want {
						t.Errorf("json path %q, want %q", got["path"], want)
					}
				} else if got := textFields(t, line)["path"]; got != path {
					t.Errorf("text path %q, want %q", got, path)
				}
			}
		})
	}
}

// checkOneLine: exactly one newline, at the end, no carriage return, and
// no Unicode line separator left unescaped.
func checkOneLine(t *testing.T, format string, line []byte) {
	t.Helper()
	if bytes.IndexByte(line, '\n') != len(line)-1 {
		t.Fatalf("%s: not one line: %q", format, line)
	}
	if bytes.IndexByte(line, '\r') >= 0 || bytes.Contains(line, []byte("\u2028")) || bytes.Contains(line, []byte("\u2029")) {
		t.Fatalf("%s: a line break inside: %q", format, line)
	}
}

// jsonRoundTrip is what encoding/json gives back for s (invalid UTF-8
// bytes become U+FFFD each).
func jsonRoundTrip(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// textFields splits a text line into its key=value pairs, unquoting quoted
// values; it fails on a line that is not a clean sequence of pairs.
func textFields(t *testing.T, line []byte) map[string]string {
	t.Helper()
	s := strings.TrimSuffix(string(line), "\n")
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			t.Fatalf("bad key at %q in %q", s, line)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("bad quoted value at %q: %v", rest, err)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			v, rest = rest[:end], rest[end:]
		}
		if _, dup := out[k]; dup {
			t.Fatalf("key %q twice in %q", k, line)
		}
		out[k] = v
		if rest != "" && rest[0] != ' ' {
			t.Fatalf("no space after %s=%q in %q", k, v, line)
		}
		s = strings.TrimPrefix(rest, " ")
	}
	return out
}

func TestTextHasEveryKeyInOrder(t *testing.T) {
	e := sampleEntry()
	line := string(AppendText(nil, &e))
	pos := -1
	for _, k := range jsonKeys {
		i := strings.Index(line, k+"=")
		if i <= pos {
			t.Fatalf("key %s out of order in %s", k, line)
		}
		pos = i
	}
	if got := textFields(t, []byte(line)); len(got) != len(jsonKeys) {
		t.Fatalf("%d fields, want %d: %v", len(got), len(jsonKeys), got)
	}
}
