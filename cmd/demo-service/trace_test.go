package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// fakeJaeger answers GET /api/traces/<testTraceID> like Jaeger's query API:
// 404 for the first notFound calls, then the body body(call).
func fakeJaeger(t *testing.T, notFound int64, body func(call int64) string) (string, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.URL.Path != "/api/traces/"+testTraceID || n <= notFound {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`)
			return
		}
		fmt.Fprintf(w, `{"data":[%s],"total":0,"limit":0,"offset":0,"errors":null}`, body(n))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// span renders one span of a Jaeger JSON trace.
func span(id, parent, op, kind, process string, start, dur int) string {
	refs := "[]"
	if parent != "" {
		refs = fmt.Sprintf(`[{"refType":"CHILD_OF","traceID":%q,"spanID":%q}]`, testTraceID, parent)
	}
	return fmt.Sprintf(`{"traceID":%q,"spanID":%q,"operationName":%q,"references":%s,"startTime":%d,"duration":%d,`+
		`"tags":[{"key":"http.response.status_code","type":"int64","value":200},{"key":"span.kind","type":"string","value":%q}],`+
		`"logs":[],"processID":%q,"warnings":null}`, testTraceID, id, op, refs, start, dur, kind, process)
}

func traceJSON(spans ...string) string {
	return fmt.Sprintf(`{"traceID":%q,"spans":[%s],"processes":{"p1":{"serviceName":"web","tags":[]},"p2":{"serviceName":"payments","tags":[]}}}`,
		testTraceID, strings.Join(spans, ","))
}

func TestTraceWaitsForEveryServiceAndPrintsTheTree(t *testing.T) {
	webSpan := span("00f067aa0ba902b7", "a000000000000001", "GET payments-traced", "client", "p1", 1000, 2500)
	paySpan := span("b7ad6b7169203331", "00f067aa0ba902b7", "GET /pay", "server", "p2", 1200, 1800)
	appSpan := span("c7ad6b7169203331", "b7ad6b7169203331", "charge", "internal", "p2", 1300, 100)
	base, calls := fakeJaeger(t, 2, func(n int64) string {
		if n == 3 { // the web sidecar's batch arrived first
			return traceJSON(webSpan)
		}
		return traceJSON(appSpan, paySpan, webSpan)
	})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"trace", "-jaeger", base + "/", "-trace", strings.ToUpper(testTraceID),
		"-services", "web,payments", "-timeout", "10s"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := "web: GET payments-traced [client] 2.5ms\n" +
		"  payments: GET /pay [server] 1.8ms\n" +
		"    payments: charge [internal] 100µs\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	if calls.Load() != 4 {
		t.Errorf("%d calls, want 4 (two 404s, one trace without payments, the whole trace)", calls.Load())
	}
}

func TestTraceWithoutServicesTakesAnySpan(t *testing.T) {
	base, _ := fakeJaeger(t, 0, func(int64) string {
		return traceJSON(span("00f067aa0ba902b7", "", "op", "", "p9", 1, 1000))
	})
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"trace", "-jaeger", base, "-trace", testTraceID}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "?: op 1ms\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
}

func TestTraceTimesOutNamingWhatItSaw(t *testing.T) {
	base, _ := fakeJaeger(t, 0, func(int64) string {
		return traceJSON(span("00f067aa0ba902b7", "", "GET payments-traced", "client", "p1", 1, 1))
	})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"trace", "-jaeger", base, "-trace", testTraceID, "-services", "web,payments", "-timeout", "500ms"}, &out, &errOut)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d (stdout %q)", code, exitFailure, out.String())
	}
	for _, s := range []string{"want spans from web, payments within 500ms", "last saw 1 spans (1 from web)"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("stderr %q does not contain %q", errOut.String(), s)
		}
	}
}

func TestTraceTimesOutWhenNotFound(t *testing.T) {
	base, _ := fakeJaeger(t, 1<<30, nil)
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"trace", "-jaeger", base, "-trace", testTraceID, "-timeout", "300ms"}, new(bytes.Buffer), &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "last saw trace not found (yet)") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestTraceTreeSurvivesAReferenceLoop(t *testing.T) {
	tr := jaegerTrace{Processes: map[string]jaegerProcess{"p": {ServiceName: "s"}}}
	for _, ids := range [][2]string{{"a", "b"}, {"b", "a"}} {
		var sp jaegerSpan
		sp.SpanID, sp.OperationName, sp.ProcessID = ids[0], "op-"+ids[0], "p"
		sp.References = append(sp.References, struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		}{"CHILD_OF", ids[1]})
		tr.Spans = append(tr.Spans, sp)
	}
	if got, want := tr.tree(), "s: op-a 0s\n  s: op-b 0s\n"; got != want {
		t.Errorf("tree %q, want %q", got, want)
	}
}

func TestTraceFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"trace", "-trace", testTraceID}, "-jaeger is required"},
		{[]string{"trace", "-jaeger", "127.0.0.1:16686", "-trace", testTraceID}, "must be an http://host:port URL"},
		{[]string{"trace", "-jaeger", "http://127.0.0.1:1"}, "-trace is required"},
		{[]string{"trace", "-jaeger", "http://127.0.0.1:1", "-trace", "abc"}, "must be 32 hex digits"},
		{[]string{"trace", "-jaeger", "http://127.0.0.1:1", "-trace", strings.Repeat("0", 32)}, "not all zero"},
		{[]string{"trace", "-jaeger", "http://127.0.0.1:1", "-trace", testTraceID, "-timeout", "0s"}, "-timeout must be > 0"},
		{[]string{"trace", "-jaeger", "http://127.0.0.1:1", "-trace", testTraceID, "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		var errOut bytes.Buffer
		if code := run(context.Background(), tt.args, new(bytes.Buffer), &errOut); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: stderr %q does not contain %q", tt.args, errOut.String(), tt.want)
		}
	}
}
