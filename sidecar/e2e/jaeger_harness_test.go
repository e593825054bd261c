package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// jaegerBinary is <repo>/bin/jaeger (Jaeger v2, built from
// deploy/tools/jaeger by `make tools`; make test builds it first).
func jaegerBinary(t *testing.T) string { return consultest.ToolBinary(t, "jaeger") }

// jaegerAgent is a real Jaeger v2 (an OpenTelemetry collector with
// in-memory storage) on loopback ports chosen here: it receives spans over
// OTLP (gRPC and HTTP) and answers Jaeger's query API.
type jaegerAgent struct {
	t     *testing.T
	ports [4]int // OTLP gRPC, OTLP HTTP, query HTTP, query gRPC
	cmd   *exec.Cmd
	done  chan struct{}
	log   *logBuffer
}

// jaegerConfig is the collector config: only the OTLP receiver, memory
// storage and the query API, all on the given loopback ports. Its own
// metrics (:8888 by default) and self-tracing (which would export to
// :4317) are off, so it opens and dials no fixed port.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    enable_tracing: false
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%[3]d
    grpc:
      endpoint: 127.0.0.1:%[4]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
      http:
        endpoint: 127.0.0.1:%[2]d
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// startJaeger starts Jaeger and waits until its query API answers and both
// OTLP receivers accept connections. It is killed at cleanup; its log is
// printed if the test failed.
func startJaeger(t *testing.T) *jaegerAgent {
	t.Helper()
	j := &jaegerAgent{t: t, log: &logBuffer{}, done: make(chan struct{})}
	copy(j.ports[:], consultest.FreePorts(t, 4))
	file := filepath.Join(t.TempDir(), "jaeger.yaml")
	cfg := fmt.Sprintf(jaegerConfig, j.ports[0], j.ports[1], j.ports[2], j.ports[3])
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	j.cmd = exec.Command(jaegerBinary(t), "--config", file)
	j.cmd.Stdout, j.cmd.Stderr = logWriter{j.log}, logWriter{j.log}
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { j.cmd.Wait(); close(j.done) }()
	t.Cleanup(func() {
		select {
		case <-j.done:
		default:
			j.cmd.Process.Kill()
			<-j.done
		}
		if t.Failed() {
			t.Logf("jaeger log:\n%s", j.log)
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		last := j.ready(client)
		if last == "" {
			return j
		}
		select {
		case <-j.done:
			t.Fatalf("jaeger exited during start-up:\n%s", j.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger was not ready within 30s (%s):\n%s", last, j.log)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// ready returns "" once GET /api/services answers 200 and both OTLP ports
// accept connections (the collector starts its receivers after the query
// extension), or else what is not ready yet.
func (j *jaegerAgent) ready(client *http.Client) string {
	resp, err := client.Get(j.queryURL() + "/api/services")
	if err != nil {
		return err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "GET /api/services: " + resp.Status
	}
	for _, addr := range []string{j.otlpGRPC(), j.otlpHTTP()} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err.Error()
		}
		c.Close()
	}
	return ""
}

// otlpGRPC is the OTLP/gRPC receiver's host:port (tracing.endpoint with
// protocol grpc).
func (j *jaegerAgent) otlpGRPC() string { return fmt.Sprintf("127.0.0.1:%d", j.ports[0]) }

// otlpHTTP is the OTLP/HTTP receiver's host:port (POST /v1/traces).
func (j *jaegerAgent) otlpHTTP() string { return fmt.Sprintf("127.0.0.1:%d", j.ports[1]) }

// queryURL is the base URL of Jaeger's query API (and UI placeholder).
func (j *jaegerAgent) queryURL() string { return fmt.Sprintf("http://127.0.0.1:%d", j.ports[2]) }

// jaegerTrace is one trace as GET /api/traces/ID returns it. Tag and field
// values keep JSON numbers as json.Number; use tag() for a string form.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []jaegerRef `json:"references"`
	StartTime     int64       `json:"startTime"` // µs since the epoch
	Duration      int64       `json:"duration"`  // µs
	Tags          []jaegerKV  `json:"tags"`      // attributes, plus span.kind, otel.scope.name, error
	Logs          []jaegerLog `json:"logs"`      // span events
	ProcessID     string      `json:"processID"` // key into jaegerTrace.Processes
}

type jaegerRef struct {
	RefType string `json:"refType"` // CHILD_OF or FOLLOWS_FROM
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"` // string, bool, int64, float64, binary
	Value any    `json:"value"`
}

// jaegerLog is a span event: its name is the field "event".
type jaegerLog struct {
	Timestamp int64      `json:"timestamp"` // µs since the epoch
	Fields    []jaegerKV `json:"fields"`
}

// jaegerProcess is a span's resource: serviceName is service.name.
type jaegerProcess struct {
	ServiceName string     `json:"serviceName"`
	Tags        []jaegerKV `json:"tags"`
}

// service is the service.name of the process that recorded s.
func (tr jaegerTrace) service(s jaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// spansOf returns the spans recorded by service, in the order Jaeger gave.
func (tr jaegerTrace) spansOf(service string) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if tr.service(s) == service {
			out = append(out, s)
		}
	}
	return out
}

// span returns the span with id spanID.
func (tr jaegerTrace) span(spanID string) (jaegerSpan, bool) {
	for _, s := range tr.Spans {
		if s.SpanID == spanID {
			return s, true
		}
	}
	return jaegerSpan{}, false
}

// String is a short summary for failure messages: one line per span.
func (tr jaegerTrace) String() string {
	if len(tr.Spans) == 0 {
		return "(no spans)"
	}
	var b strings.Builder
	for _, s := range tr.Spans {
		fmt.Fprintf(&b, "\n  %s %s: %q parent=%q kind=%s", s.SpanID, tr.service(s), s.OperationName, s.parentID(), s.tag("span.kind"))
	}
	return b.String()
}

// parentID is the span id of s's CHILD_OF reference, or "".
func (s jaegerSpan) parentID() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// tag returns the value of tag key as a string (numbers as written in the
// JSON, bools as true/false), or "" when s has no such tag.
func (s jaegerSpan) tag(key string) string {
	v, _ := kvLookup(s.Tags, key)
	return v
}

// hasTag reports whether s has tag key, whatever its value.
func (s jaegerSpan) hasTag(key string) bool {
	_, ok := kvLookup(s.Tags, key)
	return ok
}

// events returns the names of s's span events (the "event" field of each log).
func (s jaegerSpan) events() []string {
	var out []string
	for _, l := range s.Logs {
		if name, ok := kvLookup(l.Fields, "event"); ok {
			out = append(out, name)
		}
	}
	return out
}

func kvLookup(kvs []jaegerKV, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// trace fetches GET /api/traces/<traceID>. A trace Jaeger does not have
// (yet) is returned empty, without spans; any other failure is fatal.
func (j *jaegerAgent) trace(t *testing.T, traceID string) jaegerTrace {
	t.Helper()
	url := j.queryURL() + "/api/traces/" + traceID
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return jaegerTrace{TraceID: traceID}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	var doc struct {
		Data []jaegerTrace `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	if len(doc.Data) == 0 {
		return jaegerTrace{TraceID: traceID}
	}
	return doc.Data[0]
}

// waitTrace polls trace until ok holds for it and returns it; the test
// fails with the last trace seen if it does not within the given time.
// Spans reach Jaeger in batches, so a trace fills in over a few hundred
// milliseconds: ok should wait for every span it needs.
func (j *jaegerAgent) waitTrace(t *testing.T, traceID string, within time.Duration, ok func(jaegerTrace) bool) jaegerTrace {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		tr := j.trace(t, traceID)
		if ok(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s did not show in Jaeger as wanted within %v; last seen:%s", traceID, within, tr)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// randomHex returns n random bytes in lower-case hex (trace ids: 16, span
// ids: 8).
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestJaegerHarness checks the harness itself: a span tree posted to the
// OTLP/HTTP receiver as JSON (two services, a parent and a child, with an
// attribute and an event) comes back from the query API as sent.
func TestJaegerHarness(t *testing.T) {
	j := startJaeger(t)
	traceID, parent, child := randomHex(t, 16), randomHex(t, 8), randomHex(t, 8)
	start := time.Now().UnixNano()
	// An OTLP ExportTraceServiceRequest in the protobuf JSON mapping: ids
	// in hex, 64-bit integers as strings, kind 2 = SERVER and 3 = CLIENT.
	body := fmt.Sprintf(`{"resourceSpans":[
  {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"harness-front"}}]},
   "scopeSpans":[{"scope":{"name":"e2e"},"spans":[
    {"traceId":%[1]q,"spanId":%[2]q,"name":"front op","kind":2,
     "startTimeUnixNano":"%[4]d","endTimeUnixNano":"%[5]d",
     "attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}}],
     "events":[{"timeUnixNano":"%[4]d","name":"retry","attributes":[{"key":"attempt","value":{"intValue":"1"}}]}]}]}]},
  {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"harness-back"}}]},
   "scopeSpans":[{"scope":{"name":"e2e"},"spans":[
    {"traceId":%[1]q,"spanId":%[3]q,"parentSpanId":%[2]q,"name":"back op","kind":3,
     "startTimeUnixNano":"%[4]d","endTimeUnixNano":"%[5]d"}]}]}]}`,
		traceID, parent, child, start, start+int64(time.Millisecond))
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+j.otlpHTTP()+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s: %s", resp.Status, answer)
	}

	tr := j.waitTrace(t, traceID, 20*time.Second, func(tr jaegerTrace) bool { return len(tr.Spans) == 2 })
	if tr.TraceID != traceID {
		t.Errorf("traceID %q, want %q", tr.TraceID, traceID)
	}
	front, back := tr.spansOf("harness-front"), tr.spansOf("harness-back")
	if len(front) != 1 || len(back) != 1 {
		t.Fatalf("want one span per service, got:%s", tr)
	}
	f, b := front[0], back[0]
	if f.SpanID != parent || f.OperationName != "front op" || f.parentID() != "" || f.tag("span.kind") != "server" {
		t.Errorf("front span: %+v", f)
	}
	if got := f.tag("http.response.status_code"); got != "200" {
		t.Errorf("front http.response.status_code = %q, want 200", got)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "retry" {
		t.Errorf("front events = %q, want [retry]", ev)
	}
	if got, _ := kvLookup(f.Logs[0].Fields, "attempt"); got != "1" {
		t.Errorf("retry event attempt = %q, want 1", got)
	}
	if b.SpanID != child || b.OperationName != "back op" || b.parentID() != parent || b.tag("span.kind") != "client" {
		t.Errorf("back span: %+v", b)
	}
	if p, ok := tr.span(b.parentID()); !ok || tr.service(p) != "harness-front" {
		t.Errorf("back's parent %s is not the front span:%s", b.parentID(), tr)
	}
	if b.hasTag("http.response.status_code") {
		t.Errorf("back span has a tag it was not sent: %+v", b.Tags)
	}

	// A trace Jaeger never saw comes back empty, not as an error.
	if other := j.trace(t, randomHex(t, 16)); len(other.Spans) != 0 {
		t.Errorf("unknown trace has spans:%s", other)
	}
}
