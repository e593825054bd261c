package router

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// The listener's own answers get an access-log line each, with the
// listener's name, no upstream or route, and their code; a request a
// route takes is the upstream handler's to log, not the listener's.
func TestAccessLogOwnReplies(t *testing.T) {
	tbl, _ := compile(t, []config.Route{to("api", config.Match{PathPrefix: "/api/"})}, Options{})
	h := NewHandler("edge", "http", tbl, nil)
	sink := accesslog.NewSink()
	var out bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := accesslog.NewWriter(&out, accesslog.FormatJSON, accesslog.Options{Now: func() time.Time { return now }})
	sink.Swap(l)
	h.SetAccessLog(sink)

	type want struct {
		method, target string
		status         int
		code, path     string
	}
	cases := []want{
		{"GET", "/nowhere?q=1", 404, "no_route", "/nowhere?q=1"},
		{"GET", "/api/../admin", 400, "bad_request", "/api/../admin"},
		{"CONNECT", "internal.example:22", 400, "bad_request", ""},
		{"GET", "/api/x", 204, "", ""}, // routed: not logged here
	}
	var bodies []int
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "http://h"+c.target, nil)
		if c.method == "CONNECT" {
			r = httptest.NewRequest(c.method, "http://"+c.target, nil)
			r.RequestURI = c.target
		} else {
			r.RequestURI = c.target
		}
		r.Header.Set("Authorization", "Bearer SECRET")
		r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != c.status {
			t.Fatalf("%s %s: status %d, want %d", c.method, c.target, rec.Code, c.status)
		}
		bodies = append(bodies, rec.Body.Len())
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (the routed request is not the listener's):\n%s", len(lines), out.String())
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Fatalf("a header value reached the log:\n%s", out.String())
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		c := cases[i]
		if got["listener"] != "edge" || got["upstream"] != "" || got["route"] != "" || got["method"] != c.method ||
			got["path"] != c.path || got["status"] != float64(c.status) || got["error"] != c.code ||
			got["bytes_out"] != float64(bodies[i]) || got["endpoint"] != "" || got["time"] != "2026-01-02T03:04:05.000Z" ||
			got["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || got["duration_ms"] != float64(0) {
			t.Errorf("line %d: %s", i, line)
		}
	}
}
