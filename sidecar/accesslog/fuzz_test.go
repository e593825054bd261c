package accesslog

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzFormat feeds untrusted strings (a path, a method, a route name)
// through both formats: each entry is exactly one line; the JSON parses
// and gives the strings back (as encoding/json would); the text splits
// into its pairs and gives them back byte for byte.
func FuzzFormat(f *testing.F) {
	f.Add("/pay?id=1", "GET", int64(1500))
	f.Add("/a\nb\r\n", "POST", int64(0))
	f.Add("/\xff\xfe", "\x00", int64(-1))
	f.Add(`/a","status":1}`+"\n{", "G=T", int64(1<<40))
	f.Add("/x\u2028y", "M E", int64(7))
	f.Fuzz(func(t *testing.T, path, method string, n int64) {
		e := Entry{Time: time.Unix(0, n).UTC(), Path: path, Method: method, Route: path,
			Status: int(n % 1000), Duration: time.Duration(n), BytesIn: n, BytesOut: -n, Retries: int(n % 7)}
		j := AppendJSON(nil, &e)
		checkOneLine(t, "json", j)
		var got struct{ Path, Method, Route string }
		if err := json.Unmarshal(j, &got); err != nil {
			t.Fatalf("json: %v: %q", err, j)
		}
		if got.Path != jsonRoundTrip(t, path) || got.Method != jsonRoundTrip(t, method) {
			t.Fatalf("json gave back %q %q for %q %q", got.Path, got.Method, path, method)
		}
		if !json.Valid(bytes.TrimSuffix(j, []byte("\n"))) {
			t.Fatalf("invalid json: %q", j)
		}
		x := AppendText(nil, &e)
		checkOneLine(t, "text", x)
		fields := textFields(t, x)
		if fields["path"] != path || fields["method"] != method || fields["route"] != path {
			t.Fatalf("text gave back %q %q for %q %q", fields["path"], fields["method"], path, method)
		}
	})
}
