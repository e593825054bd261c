package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// logBuffer is the access log's output, read by the test while the
// writer writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLine is one JSON access-log line, decoded.
type logLine struct {
	Time       string  `json:"time"`
	Listener   string  `json:"listener"`
	Upstream   string  `json:"upstream"`
	Route      string  `json:"route"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	Endpoint   string  `json:"endpoint"`
	Retries    int     `json:"retries"`
	Error      string  `json:"error"`
	TraceID    string  `json:"trace_id"`
	Client     string  `json:"client"`
}

// accessLog is a Sink with a JSON Logger writing to memory; next returns
// the next line, waiting for it within a deadline.
type accessLog struct {
	t    *testing.T
	sink *accesslog.Sink
	out  *logBuffer
	seen int
}

func newAccessLog(t *testing.T) *accessLog {
	t.Helper()
	sink := accesslog.NewSink()
	out := &logBuffer{}
	l := accesslog.NewWriter(out, accesslog.FormatJSON, accesslog.Options{Dropped: sink.Dropped()})
	sink.Swap(l)
	t.Cleanup(func() { l.Close(context.Background()) })
	return &accessLog{t: t, sink: sink, out: out}
}

func (a *accessLog) lines() []string {
	s := a.out.String()
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func (a *accessLog) next() logLine {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(a.lines()) <= a.seen {
		if time.Now().After(deadline) {
			a.t.Fatalf("no access-log line %d within 5s; log so far:\n%s", a.seen+1, a.out)
		}
		time.Sleep(time.Millisecond) // polling the writer's output, bounded by the deadline
	}
	raw := a.lines()[a.seen]
	a.seen++
	var l logLine
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		a.t.Fatalf("line %q: %v", raw, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil || !strings.HasSuffix(l.Time, "Z") {
		a.t.Errorf("time %q is not RFC 3339 in UTC", l.Time)
	}
	if l.DurationMS < 0 || !strings.HasPrefix(l.Client, "127.0.0.1:") {
		a.t.Errorf("duration %v, client %q", l.DurationMS, l.Client)
	}
	return l
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func logCfg() config.Upstream {
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.LB = "payments", "round_robin"
	return cfg
}

func TestAccessLogAnswerFields(t *testing.T) {
	al := newAccessLog(t)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello")
	})
	url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink}, be)

	req, _ := http.NewRequest("POST", url+"/pay?id=1&note=a%20b", strings.NewReader("amount=5"))
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if code, body := do(t, req); code != 200 || string(body) != "hello" {
		t.Fatalf("%d %q", code, body)
	}
	got := al.next()
	want := logLine{Time: got.Time, Upstream: "payments", Method: "POST", Path: "/pay?id=1&note=a%20b",
		Status: 200, DurationMS: got.DurationMS, BytesIn: 8, BytesOut: 5, Endpoint: be, Retries: 0,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Client: got.Client}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	req, _ = http.NewRequest("HEAD", url+"/pay", nil)
	do(t, req)
	if got := al.next(); got.Method != "HEAD" || got.BytesOut != 0 || got.TraceID != "" {
		t.Errorf("HEAD: %+v", got)
	}
}

// A retried request logs the endpoint of its last attempt and the retries.
func TestAccessLogRetries(t *testing.T) {
	al := newAccessLog(t)
	bad := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	good := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfg := logCfg()
	cfg.Outlier.Consecutive5xx = 1
	url, _ := frontWith(t, cfg, Options{AccessLog: al.sink}, bad, good)
	req, _ := http.NewRequest("GET", url+"/r", nil)
	if code, _ := do(t, req); code != 200 {
		t.Fatalf("status %d", code)
	}
	if got := al.next(); got.Retries != 1 || got.Endpoint != good || got.Status != 200 || got.Error != "" {
		t.Errorf("got %+v; want 1 retry ending on %s", got, good)
	}
}

// The sidecar's own answers carry their X-Outrigger-Error code and the
// length of the body the client got.
func TestAccessLogLocalReplies(t *testing.T) {
	t.Run("no endpoint", func(t *testing.T) {
		al := newAccessLog(t)
		url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink})
		req, _ := http.NewRequest("GET", url+"/x", nil)
		code, body := do(t, req)
		got := al.next()
		if got.Status != code || code != 503 || got.Error != "no_healthy_upstream" || got.Endpoint != "" || got.BytesOut != int64(len(body)) {
			t.Errorf("got %+v for %d %q", got, code, body)
		}
	})
	t.Run("connect failures", func(t *testing.T) {
		al := newAccessLog(t)
		cfg := logCfg()
		cfg.Retries.Attempts, cfg.Retries.On = 1, []string{"connect_failure"}
		a, b := closedPort(t), closedPort(t)
		url, _ := frontWith(t, cfg, Options{AccessLog: al.sink}, a, b)
		req, _ := http.NewRequest("GET", url+"/x", nil)
		code, body := do(t, req)
		got := al.next()
		if got.Status != 502 || code != 502 || got.Error != "connect_failure" || got.Retries != 1 ||
			(got.Endpoint != a && got.Endpoint != b) || got.BytesOut != int64(len(body)) {
			t.Errorf("got %+v for %d %q", got, code, body)
		}
	})
	t.Run("retry budget exhausted", func(t *testing.T) {
		al := newAccessLog(t)
		cfg := logCfg()
		cfg.Retries.Attempts, cfg.Retries.On = 1, []string{"5xx"}
		cfg.Retries.BudgetPercent, cfg.Retries.MinPerSecond = 0, 0
		cfg.Outlier.Enabled = false
		be := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); io.WriteString(w, "busy") })
		url, _ := frontWith(t, cfg, Options{AccessLog: al.sink}, be)
		req, _ := http.NewRequest("GET", url+"/x", nil)
		code, body := do(t, req)
		got := al.next()
		if got.Status != 503 || code != 503 || string(body) != "busy" || got.Error != "retry_budget_exhausted" ||
			got.Endpoint != be || got.BytesOut != 4 {
			t.Errorf("got %+v for %d %q", got, code, body)
		}
	})
}

func TestReplyBodyLenIsWhatWriteSends(t *testing.T) {
	for _, detail := range []string{"", "upstream payments has no endpoint to send to"} {
		for r := range localreply.NumReasons {
			rec := httptest.NewRecorder()
			n := localreply.Write(rec, localreply.Reason(r), 503, detail)
			if want := int64(rec.Body.Len()); n != want {
				t.Errorf("%s %q: Write returned %d, sent %d", localreply.Reason(r), detail, n, want)
			}
		}
	}
}

// A route's request logs the listener, the route and the upstream, with
// the path as the client sent it (before the prefix was stripped); the
// inbound listener's logs listener "inbound".
func TestAccessLogListenerNames(t *testing.T) {
	be := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	t.Run("via a route", func(t *testing.T) {
		al := newAccessLog(t)
		up := staticUpstream(t, logCfg(), be)
		h := NewHandler(up, newClient(logCfg()), Options{AccessLog: al.sink})
		via := &Via{Listener: "edge", Route: "api", StripPrefix: "/api"}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeVia(w, r, via) }))
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/api/users?q=1", nil)
		if code, body := do(t, req); code != 200 || string(body) != "/users" {
			t.Fatalf("%d %q", code, body)
		}
		if got := al.next(); got.Listener != "edge" || got.Route != "api" || got.Upstream != "payments" || got.Path != "/api/users?q=1" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("inbound", func(t *testing.T) {
		al := newAccessLog(t)
		url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink, Inbound: true}, be)
		req, _ := http.NewRequest("GET", url+"/in", nil)
		do(t, req)
		if got := al.next(); got.Listener != "inbound" || got.Upstream != "" || got.Status != 200 {
			t.Errorf("got %+v", got)
		}
	})
}

// A client that leaves before its answer is logged with 499.
func TestAccessLogClientGone(t *testing.T) {
	al := newAccessLog(t)
	release := make(chan struct{})
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink}, be)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/slow", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request should have been cancelled")
	}
	if got := al.next(); got.Status != 499 || got.Error != "" {
		t.Errorf("got %+v, want status 499", got)
	}
}

// No header value reaches the log: Authorization, cookies and tokens sent
// with the request and Set-Cookie in the answer appear in no line. The
// query string is logged (docs/access-log.md).
func TestAccessLogNeverLogsCredentials(t *testing.T) {
	al := newAccessLog(t)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=SETCOOKIESECRET")
		io.WriteString(w, "ok")
	})
	url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink}, be)
	secrets := map[string]string{
		"Authorization":       "Bearer AUTHSECRET",
		"Proxy-Authorization": "Basic PROXYSECRET",
		"Cookie":              "session=COOKIESECRET",
		"X-Api-Token":         "TOKENSECRET",
	}
	req, _ := http.NewRequest("GET", url+"/p?visible=yes", nil)
	for k, v := range secrets {
		req.Header.Set(k, v)
	}
	do(t, req)
	got := al.next()
	if got.Path != "/p?visible=yes" {
		t.Errorf("path %q", got.Path)
	}
	for _, s := range []string{"AUTHSECRET", "PROXYSECRET", "COOKIESECRET", "TOKENSECRET", "SETCOOKIESECRET", "Bearer", "session="} {
		if strings.Contains(al.out.String(), s) {
			t.Errorf("the access log holds %q:\n%s", s, al.out)
		}
	}
}

// Switching the log off (a reload) stops the lines; nothing else changes.
func TestAccessLogSwitchedOff(t *testing.T) {
	al := newAccessLog(t)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink}, be)
	req, _ := http.NewRequest("GET", url+"/1", nil)
	do(t, req)
	al.next()
	old := al.sink.Swap(nil)
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", url+"/2", nil)
	if code, _ := do(t, req); code != 200 {
		t.Fatal(code)
	}
	if n := len(al.lines()); n != 1 || al.sink.DroppedTotal() != 0 {
		t.Fatalf("%d lines, %d dropped after switching off; want 1 and 0", n, al.sink.DroppedTotal())
	}
}

// With the access log off — no Sink, or a Sink without a Logger — the
// request path allocates exactly what it did before; on, one allocation
// more.
func TestAccessLogOffAllocatesNothing(t *testing.T) {
	run := func(sink *accesslog.Sink) float64 {
		cfg := config.DefaultUpstream()
		cfg.Name = "payments"
		h := benchHandlerOpts(t, cfg, Options{AccessLog: sink})
		req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/pay?id=1", nil)
		req.RemoteAddr = "127.0.0.1:50000"
		req.RequestURI = "/pay?id=1" // as a server sets it
		w := &discardWriter{h: make(http.Header, 8)}
		return testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
	}
	none, off := run(nil), run(accesslog.NewSink())
	if off != none {
		t.Fatalf("allocations per request: %v with the log off, %v without a Sink", off, none)
	}
	// On, one more: the path copied out of the request head
	// (accesslog.Detach), so a queued line does not keep the head alive.
	al := newAccessLog(t)
	if on := run(al.sink); on != none+1 {
		t.Fatalf("allocations per request: %v with the log on, %v off; want one more (the detached path)", on, none)
	}
}

// With tracing on, trace_id is the request's span's: the caller's trace,
// or a new one when the caller sent none.
func TestAccessLogTraceIDFromSpan(t *testing.T) {
	al := newAccessLog(t)
	tr, rec := recordingTracing(t)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	url, _ := frontWith(t, logCfg(), Options{AccessLog: al.sink, Tracing: tr}, be)
	req, _ := http.NewRequest("GET", url+"/t", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	do(t, req)
	if got := al.next(); got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace_id %q, want the caller's trace", got.TraceID)
	}
	req, _ = http.NewRequest("GET", url+"/t", nil)
	do(t, req)
	got := al.next()
	spans := rec.Ended()
	if len(spans) != 2 || got.TraceID != spans[1].SpanContext().TraceID().String() {
		t.Errorf("trace_id %q, want the new span's trace (%d spans)", got.TraceID, len(spans))
	}
}
