package main

// Unit tests of the Consul side of demo-service against an httptest fake of
// the agent's HTTP API: the exact register/deregister payloads, retries and
// failures. consul_agent_test.go runs the same flow against a real Consul
// dev agent (bin/consul), and the end-to-end tests in sidecar/e2e use the
// real agent with the sidecar too.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// agentCall is one request the fake agent got.
type agentCall struct {
	method, path string
	body         []byte
	// healthDuring is the status of GET <instance>/health made while the
	// fake handled a deregistration (0: no answer): it shows whether the
	// instance was still serving when it deregistered.
	healthDuring int
}

// fakeAgent is an httptest stand-in for the two agent endpoints used by
// serve -consul. registerStatus answers the n-th (1-based) registration.
type fakeAgent struct {
	srv              *httptest.Server
	calls            chan agentCall
	registerStatus   func(n int64) int
	deregisterStatus int
	registrations    atomic.Int64
	mu               sync.Mutex
	instance         string // host:port of the registered instance
}

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	a := &fakeAgent{
		calls:            make(chan agentCall, 100),
		registerStatus:   func(int64) int { return http.StatusOK },
		deregisterStatus: http.StatusOK,
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		call := agentCall{method: r.Method, path: r.URL.Path, body: body}
		status := http.StatusNotFound
		switch {
		case r.URL.Path == "/v1/agent/service/register":
			status = a.registerStatus(a.registrations.Add(1))
			var reg agentServiceRegistration
			if status == http.StatusOK && json.Unmarshal(body, &reg) == nil {
				a.mu.Lock()
				a.instance = fmt.Sprintf("%s:%d", reg.Address, reg.Port)
				a.mu.Unlock()
			}
		case strings.HasPrefix(r.URL.Path, "/v1/agent/service/deregister/"):
			status = a.deregisterStatus
			a.mu.Lock()
			inst := a.instance
			a.mu.Unlock()
			if resp, err := http.Get("http://" + inst + "/health"); err == nil {
				call.healthDuring = resp.StatusCode
				resp.Body.Close()
			}
		}
		a.calls <- call
		w.WriteHeader(status)
		if status != http.StatusOK {
			fmt.Fprintf(w, "fake agent says %d", status)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// next returns the fake's next call, failing the test after a deadline.
func (a *fakeAgent) next(t *testing.T) agentCall {
	t.Helper()
	select {
	case c := <-a.calls:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("the fake Consul agent got no request in time")
		return agentCall{}
	}
}

// startServe runs the server with args in the background; the returned
// channel gets its exit code.
func startServe(ctx context.Context, args []string, logs io.Writer) <-chan int {
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, args, io.Discard, logs) }()
	return exited
}

// waitLog polls logs until they contain want, with a deadline.
func waitLog(t *testing.T, logs fmt.Stringer, want string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs in time: %s", want, logs)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func waitExit(t *testing.T, exited <-chan int, logs fmt.Stringer) int {
	t.Helper()
	select {
	case code := <-exited:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not exit in time: %s", logs)
		return -1
	}
}

func TestServeRegistersAndDeregistersWithFakeAgent(t *testing.T) {
	agent := newFakeAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := startServe(ctx, []string{"-name", "payments-1", "-listen", "127.0.0.1:0",
		"-consul", agent.addr(), "-service", "payments", "-tags", "blue, canary,"}, &logs)

	reg := agent.next(t)
	if reg.method != http.MethodPut || reg.path != "/v1/agent/service/register" {
		t.Fatalf("first call %s %s, want PUT /v1/agent/service/register", reg.method, reg.path)
	}
	// The payload, field by field as Consul's API names them.
	var got map[string]any
	if err := json.Unmarshal(reg.body, &got); err != nil {
		t.Fatalf("register body %q: %v", reg.body, err)
	}
	port, ok := got["Port"].(float64)
	if !ok || port <= 0 {
		t.Fatalf("Port %v, want the bound port", got["Port"])
	}
	want := map[string]any{
		"ID":      "payments-1",
		"Name":    "payments",
		"Tags":    []any{"blue", "canary"},
		"Address": "127.0.0.1",
		"Port":    port,
		"Check": map[string]any{
			"HTTP":                           fmt.Sprintf("http://127.0.0.1:%d/health", int(port)),
			"Interval":                       "1s",
			"Timeout":                        "1s",
			"DeregisterCriticalServiceAfter": "1m",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("register body\n got %s\nwant %v", reg.body, want)
	}

	waitLog(t, &logs, "registered in Consul")
	cancel() // as SIGTERM does
	dereg := agent.next(t)
	if dereg.method != http.MethodPut || dereg.path != "/v1/agent/service/deregister/payments-1" {
		t.Fatalf("call after the signal: %s %s, want PUT /v1/agent/service/deregister/payments-1", dereg.method, dereg.path)
	}
	if dereg.healthDuring != http.StatusOK {
		t.Errorf("GET /health during deregistration: %d, want 200 (deregister before shutting down)", dereg.healthDuring)
	}
	if code := waitExit(t, exited, &logs); code != exitOK {
		t.Fatalf("exit %d, want 0: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "deregistered from Consul") {
		t.Errorf("logs do not mention the deregistration: %s", logs.String())
	}
}

func TestServeRetriesRegistrationWhileAgentFails(t *testing.T) {
	agent := newFakeAgent(t)
	agent.registerStatus = func(n int64) int {
		if n <= 2 {
			return http.StatusInternalServerError // e.g. still starting
		}
		return http.StatusOK
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := startServe(ctx, []string{"-name", "p-1", "-listen", "127.0.0.1:0", "-consul", agent.addr(), "-service", "p"}, &logs)
	for i := 1; i <= 3; i++ {
		if c := agent.next(t); c.path != "/v1/agent/service/register" {
			t.Fatalf("call %d: %s, want a registration", i, c.path)
		}
	}
	waitLog(t, &logs, "registered in Consul")
	cancel()
	if c := agent.next(t); c.path != "/v1/agent/service/deregister/p-1" {
		t.Fatalf("after the signal: %s, want the deregistration", c.path)
	}
	if code := waitExit(t, exited, &logs); code != exitOK {
		t.Fatalf("exit %d, want 0: %s", code, logs.String())
	}
}

func TestServeExits1WhenAgentRefusesRegistration(t *testing.T) {
	agent := newFakeAgent(t)
	agent.registerStatus = func(int64) int { return http.StatusBadRequest }
	var logs syncBuffer
	exited := startServe(context.Background(), []string{"-name", "p-1", "-listen", "127.0.0.1:0", "-consul", agent.addr(), "-service", "p"}, &logs)
	if code := waitExit(t, exited, &logs); code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, logs.String())
	}
	if n := agent.registrations.Load(); n != 1 {
		t.Errorf("%d registration attempts, want 1 (a 4xx is not retried)", n)
	}
	if !strings.Contains(logs.String(), "fake agent says 400") {
		t.Errorf("logs do not show the agent's answer: %s", logs.String())
	}
}

func TestServeExits1WhenDeregistrationFails(t *testing.T) {
	agent := newFakeAgent(t)
	agent.deregisterStatus = http.StatusInternalServerError
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := startServe(ctx, []string{"-name", "p-1", "-listen", "127.0.0.1:0", "-consul", agent.addr(), "-service", "p"}, &logs)
	agent.next(t)
	waitLog(t, &logs, "registered in Consul")
	cancel()
	agent.next(t)
	if code := waitExit(t, exited, &logs); code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "cannot deregister") {
		t.Errorf("logs do not report the failed deregistration: %s", logs.String())
	}
}

func TestNewRegistrationAddresses(t *testing.T) {
	tests := []struct {
		listen, address, check string
	}{
		{"127.0.0.1:7001", "127.0.0.1", "http://127.0.0.1:7001/health"},
		{"0.0.0.0:7001", "", "http://127.0.0.1:7001/health"},
		{"[::]:7001", "", "http://127.0.0.1:7001/health"},
		{"[::1]:7001", "::1", "http://[::1]:7001/health"},
	}
	for _, tt := range tests {
		reg, err := newRegistration("id", "svc", nil, tt.listen)
		if err != nil {
			t.Fatalf("%s: %v", tt.listen, err)
		}
		if reg.Address != tt.address || reg.Port != 7001 || reg.Check.HTTP != tt.check {
			t.Errorf("%s: address %q port %d check %q, want %q 7001 %q", tt.listen, reg.Address, reg.Port, reg.Check.HTTP, tt.address, tt.check)
		}
	}
}

func TestConsulBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8500":         "http://127.0.0.1:8500",
		"http://127.0.0.1:8500":  "http://127.0.0.1:8500",
		"https://consul:8501/":   "https://consul:8501",
		"localhost:8500":         "http://localhost:8500",
		"127.0.0.1":              "",
		"ftp://127.0.0.1:8500":   "",
		"http://127.0.0.1/v1/kv": "",
	} {
		got, err := consulBaseURL(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("consulBaseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// fakeHealth answers /v1/health/service/<name>?passing with the entries
// that instances() returns at the time.
func fakeHealth(t *testing.T, service string, instances func() int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health/service/"+service || !r.URL.Query().Has("passing") {
			http.NotFound(w, r)
			return
		}
		entries := []map[string]any{}
		for i := range instances() {
			entries = append(entries, map[string]any{
				"Node":    map[string]any{"Address": "10.0.0.9"},
				"Service": map[string]any{"ID": fmt.Sprintf("%s-%d", service, i+1), "Service": service, "Address": "", "Port": 7001 + i},
			})
		}
		json.NewEncoder(w).Encode(entries)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestConsulWaitPollsUntilCountMatches(t *testing.T) {
	var calls atomic.Int64
	addr := fakeHealth(t, "payments", func() int { return min(int(calls.Add(1))-1, 3) }) // 0, 1, 2, 3, 3...
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "payments", "-passing", "3", "-timeout", "10s"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := "consul: payments has 3 passing instances: payments-1 (10.0.0.9:7001), payments-2 (10.0.0.9:7002), payments-3 (10.0.0.9:7003)\n"
	if out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if n := calls.Load(); n < 4 {
		t.Errorf("%d health queries, want at least 4", n)
	}
}

func TestConsulWaitTimesOut(t *testing.T) {
	addr := fakeHealth(t, "payments", func() int { return 1 })
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "payments", "-passing", "2", "-timeout", "300ms"}, &out, &errOut)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s with -timeout 300ms", took)
	}
	if !strings.Contains(errOut.String(), "want 2 passing instances, last saw 1") {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestConsulWaitReportsUnreachableAgent(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"consul-wait", "-consul", fmt.Sprintf("127.0.0.1:%d", ports[0]), "-service", "x", "-passing", "0", "-timeout", "300ms"}, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "never got an answer") {
		t.Fatalf("exit %d, stderr %q; want 1 and 'never got an answer'", code, errOut.String())
	}
}

func TestIntentionFlags(t *testing.T) {
	if _, err := parseIntentionFlags([]string{"-consul", "127.0.0.1:8500", "-source", "web", "-destination", "payments", "-action", "deny"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := parseIntentionFlags([]string{"-consul", "127.0.0.1:8500", "-source", "web", "-destination", "payments", "-action", "maybe"}, io.Discard); err == nil {
		t.Error(`-action maybe was accepted`)
	}
}
