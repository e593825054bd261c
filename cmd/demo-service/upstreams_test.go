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
