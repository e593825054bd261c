package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startCounting starts an httptest server that answers like three
// demo-service instances in turn and counts the requests it got.
func startCounting(t *testing.T) (url string, served *atomic.Int64) {
	t.Helper()
	served = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		status := http.StatusOK
		if n%5 == 0 {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"instance":"i-%d"}`, n%3)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, served
}

func testLoadConfig(url string, requests, concurrency int) loadConfig {
	return loadConfig{url: url, requests: requests, concurrency: concurrency, timeout: 5 * time.Second, deadline: 30 * time.Second}
}

func TestDriveCountsAddUp(t *testing.T) {
	url, served := startCounting(t)
	c := testLoadConfig(url+"/pay", 300, 8)
	r := drive(context.Background(), newLoadClient(c.concurrency), c)

	if got := served.Load(); got != 300 {
		t.Fatalf("server got %d requests, want 300", got)
	}
	if r.Answered != 300 || r.TransportErrors != 0 || r.DeadlineExceeded {
		t.Fatalf("answered %d, transport errors %d, deadline %v; want 300, 0, false", r.Answered, r.TransportErrors, r.DeadlineExceeded)
	}
	if r.Status["200"] != 240 || r.Status["503"] != 60 {
		t.Errorf("status counts %v, want 200:240 503:60", r.Status)
	}
	sum, share := 0, 0.0
	for _, in := range r.Instances {
		sum += in.Count
		share += in.Share
		if in.Count != 100 {
			t.Errorf("instance %s got %d, want 100", in.Instance, in.Count)
		}
	}
	if len(r.Instances) != 3 || sum != 300 || share < 0.999 || share > 1.001 {
		t.Errorf("instances %+v: want 3 adding up to 300 and share 1", r.Instances)
	}
	if r.LatencyMS.P50 <= 0 || r.LatencyMS.P99 < r.LatencyMS.P50 {
		t.Errorf("latency %+v: want 0 < p50 <= p99", r.LatencyMS)
	}
	if p := r.problem(0); p != "" {
		t.Errorf("problem %q, want none", p)
	}
	if p := r.problem(200); !strings.Contains(p, "expected every response to be 200") {
		t.Errorf("problem(200) = %q, want the 503s reported", p)
	}
}

func TestDriveStopsAtN(t *testing.T) {
	url, served := startCounting(t)
	c := testLoadConfig(url, 3, 10) // more workers than requests
	r := drive(context.Background(), newLoadClient(c.concurrency), c)
	if got := served.Load(); got != 3 || r.Answered != 3 {
		t.Fatalf("server got %d, answered %d; want 3 and 3", got, r.Answered)
	}
}

func TestDriveStopsAtDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := testLoadConfig(srv.URL, 50, 2)
	c.deadline = 100 * time.Millisecond
	start := time.Now()
	r := drive(context.Background(), newLoadClient(c.concurrency), c)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("drive took %s with a 100ms deadline", took)
	}
	if !r.DeadlineExceeded || r.Answered != 0 || r.TransportErrors != 0 {
		t.Fatalf("deadline %v answered %d errors %d; want true, 0, 0", r.DeadlineExceeded, r.Answered, r.TransportErrors)
	}
	if p := r.problem(0); !strings.Contains(p, "deadline exceeded") {
		t.Errorf("problem %q, want deadline exceeded", p)
	}
}

func TestDriveTransportErrors(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	c := testLoadConfig(fmt.Sprintf("http://127.0.0.1:%d/", ports[0]), 4, 2)
	r := drive(context.Background(), newLoadClient(c.concurrency), c)
	if r.TransportErrors != 4 || r.Status["error"] != 4 || r.Answered != 0 || r.FirstError == "" {
		t.Fatalf("report %+v: want 4 transport errors", r)
	}
	if p := r.problem(0); !strings.Contains(p, "4 requests got no response") {
		t.Errorf("problem %q", p)
	}
}

func TestInstanceOf(t *testing.T) {
	tests := []struct {
		header, body, want string
	}{
		{"", `{"instance":"payments-2","path":"/"}`, "payments-2"},
		{"no_healthy_upstream", "no healthy upstream\n", "local reply: no_healthy_upstream"},
		{"", "<html>", "(unknown)"},
		{"", `{"other":1}`, "(unknown)"},
	}
	for _, tt := range tests {
		resp := &http.Response{Header: http.Header{}}
		if tt.header != "" {
			resp.Header.Set("X-Outrigger-Error", tt.header)
		}
		if got := instanceOf(resp, []byte(tt.body)); got != tt.want {
			t.Errorf("instanceOf(%q, %q) = %q, want %q", tt.header, tt.body, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %s, want %s", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %s, want 0", got)
	}
	if got := percentile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("percentile of one = %s", got)
	}
}

func TestRunLoadJSONAndTable(t *testing.T) {
	url, _ := startCounting(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"load", "-url", url, "-requests", "10", "-concurrency", "3", "-json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if r.Requested != 10 || r.Answered != 10 || len(r.Instances) != 3 {
		t.Errorf("report %+v", r)
	}

	out.Reset()
	code = run(context.Background(), []string{"load", "-url", url, "-requests", "10", "-expect-status", "200"}, &out, &errOut)
	if code != exitFailure {
		t.Errorf("-expect-status 200 with 503s: exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"INSTANCE", "i-0", "STATUS", "503", "latency: p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadSendsHeadersAndHost(t *testing.T) {
	got := make(chan [2]string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- [2]string{r.Host, r.Header.Get("X-Canary")}
	}))
	t.Cleanup(srv.Close)
	c, err := parseLoadFlags([]string{"-url", srv.URL, "-requests", "2", "-concurrency", "1",
		"-header", "Host: user-service.example.com", "-header", "X-Canary: 1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	drive(context.Background(), newLoadClient(1), c)
	for range 2 {
		if g := <-got; g != [2]string{"user-service.example.com", "1"} {
			t.Errorf("host and x-canary %q", g)
		}
	}
	if _, err := parseLoadFlags([]string{"-url", srv.URL, "-header", "no colon"}, &bytes.Buffer{}); err == nil {
		t.Error(`-header "no colon" was accepted`)
	}
}
