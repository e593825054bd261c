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

// fakeAdmin answers GET /upstreams like the sidecar's admin API, with
// payments having endpoints() endpoints at the time.
func fakeAdmin(t *testing.T, endpoints func() int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upstreams" {
			http.NotFound(w, r)
			return
		}
		var eps []string
		for i := range endpoints() {
			eps = append(eps, fmt.Sprintf(`{"address":"127.0.0.1:%d","id":"payments-%d","healthy":true,"ejected":false,"active_requests":0,"requests":7,"failures":0}`, 7001+i, i+1))
		}
		fmt.Fprintf(w, `{"upstreams":[{"name":"other","endpoints":[{"address":"127.0.0.1:1"}]},`+
			`{"name":"payments","listen":"127.0.0.1:9001","protocol":"http","lb":"least_conn","discovery":"consul","breaker":"closed","active_requests":0,"endpoints":[%s]}]}`,
			strings.Join(eps, ","))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestUpstreamsPrintsEndpointCount(t *testing.T) {
	admin := fakeAdmin(t, func() int { return 3 })
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"upstreams", "-admin", admin, "-upstream", "payments"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != "3\n" {
		t.Errorf("stdout %q, want %q", out.String(), "3\n")
	}
}

func TestUpstreamsWaitsForWantedCount(t *testing.T) {
	var calls atomic.Int64
	admin := fakeAdmin(t, func() int { return max(3-int(calls.Add(1))+1, 2) }) // 3, 2, 2...
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"upstreams", "-admin", admin, "-upstream", "payments", "-want", "2", "-timeout", "10s"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != "2\n" || calls.Load() < 2 {
		t.Errorf("stdout %q after %d calls, want \"2\\n\" after at least 2", out.String(), calls.Load())
	}
}

func TestUpstreamsFailures(t *testing.T) {
	admin := fakeAdmin(t, func() int { return 3 })
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-upstream", "nope"}, `no upstream named "nope"`},
		{[]string{"-upstream", "payments", "-want", "2", "-timeout", "300ms"}, "want 2 endpoints, last saw 3 endpoints"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := append([]string{"upstreams", "-admin", admin}, tt.args...)
		if code := run(context.Background(), args, &out, &errOut); code != exitFailure {
			t.Errorf("%q: exit %d, want 1", tt.args, code)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: stderr %q, want it to mention %q", tt.args, errOut.String(), tt.want)
		}
	}
}

// fakeOutlierAdmin answers GET /upstreams with payments-1 (127.0.0.1:7001)
// in the state state(call) gives for the n-th call (from 1): "" lists only
// payments-2, "ok" lists payments-1 in rotation (back from its ejection,
// ramping up in its slow-start window), "ejected" ejected.
func fakeOutlierAdmin(t *testing.T, state func(call int64) string) (addr string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eps := []string{`{"address":"127.0.0.1:7002","id":"payments-2","healthy":true,"ejected":false,"ejected_until":"","ejection_reason":"","ejections":0,"active_requests":0,"requests":9,"failures":0}`}
		switch state(calls.Add(1)) {
		case "ok":
			eps = append(eps, `{"address":"127.0.0.1:7001","id":"payments-1","healthy":true,"ejected":false,"ejected_until":"","ejection_reason":"","ejections":1,"slow_start_until":"2026-11-25T01:02:18Z","active_requests":0,"requests":12,"failures":5}`)
		case "ejected":
			eps = append(eps, `{"address":"127.0.0.1:7001","id":"payments-1","healthy":true,"ejected":true,"ejected_until":"2026-11-25T01:02:08Z","ejection_reason":"consecutive_5xx","ejections":1,"active_requests":0,"requests":7,"failures":5}`)
		}
		fmt.Fprintf(w, `{"upstreams":[{"name":"payments","listen":"127.0.0.1:9001","protocol":"http","lb":"least_conn","discovery":"consul","breaker":"closed","active_requests":0,"endpoints":[%s]}]}`,
			strings.Join(eps, ","))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), calls
}

const (
	ejectedLine  = `127.0.0.1:7001 (payments-1) healthy=true ejected=true ejection_reason=consecutive_5xx ejections=1 ejected_until=2026-11-25T01:02:08Z slow_start_until=""` + "\n"
	returnedLine = `127.0.0.1:7001 (payments-1) healthy=true ejected=false ejection_reason="" ejections=1 ejected_until="" slow_start_until=2026-11-25T01:02:18Z` + "\n"
)

func TestUpstreamsEndpointOnce(t *testing.T) {
	for state, want := range map[string]string{"ejected": ejectedLine, "ok": returnedLine} {
		admin, calls := fakeOutlierAdmin(t, func(int64) string { return state })
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"upstreams", "-admin", admin, "-upstream", "payments", "-endpoint", "127.0.0.1:7001"}, &out, &errOut)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", state, code, errOut.String())
		}
		if out.String() != want || calls.Load() != 1 {
			t.Errorf("%s: stdout %q after %d calls, want %q after 1", state, out.String(), calls.Load(), want)
		}
	}
}

func TestUpstreamsWaitsForEjection(t *testing.T) {
	tests := []struct {
		name  string
		want  string
		state func(int64) string
		line  string
	}{
		// Not listed yet, then in rotation, then ejected.
		{"ejected", "true", func(n int64) string { return [...]string{"", "", "ok", "ok", "ejected"}[min(n, 5)-1] }, ejectedLine},
		{"returned", "false", func(n int64) string { return [...]string{"ejected", "ejected", "ejected", "ok"}[min(n, 4)-1] }, returnedLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin, calls := fakeOutlierAdmin(t, tt.state)
			var out, errOut bytes.Buffer
			args := []string{"upstreams", "-admin", admin, "-upstream", "payments", "-endpoint", "127.0.0.1:7001", "-want-ejected", tt.want, "-timeout", "10s"}
			if code := run(context.Background(), args, &out, &errOut); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if out.String() != tt.line {
				t.Errorf("stdout %q, want %q", out.String(), tt.line)
			}
			if calls.Load() < 4 {
				t.Errorf("returned after %d calls, want it to have polled until the state changed", calls.Load())
			}
		})
	}
}

func TestUpstreamsEndpointFailures(t *testing.T) {
	admin, _ := fakeOutlierAdmin(t, func(int64) string { return "ok" })
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-upstream", "payments", "-endpoint", "127.0.0.1:7009"}, `upstream "payments" has no endpoint 127.0.0.1:7009 (it has 2)`},
		{[]string{"-upstream", "nope", "-endpoint", "127.0.0.1:7001"}, `no upstream named "nope"`},
		{[]string{"-upstream", "payments", "-endpoint", "127.0.0.1:7001", "-want-ejected", "true", "-timeout", "300ms"},
			"payments: want 127.0.0.1:7001 ejected=true, last saw " + strings.TrimSuffix(returnedLine, "\n") + " after 300ms"},
		{[]string{"-upstream", "payments", "-endpoint", "127.0.0.1:7009", "-want-ejected", "false", "-timeout", "300ms"},
			`want 127.0.0.1:7009 ejected=false, last saw upstream "payments" has no endpoint 127.0.0.1:7009`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := append([]string{"upstreams", "-admin", admin}, tt.args...)
		if code := run(context.Background(), args, &out, &errOut); code != exitFailure {
			t.Errorf("%q: exit %d, want 1", tt.args, code)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: stderr %q, want it to mention %q", tt.args, errOut.String(), tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", tt.args, out.String())
		}
	}
}
