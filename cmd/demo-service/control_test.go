package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// startBackend serves a demo backend named payments-1 on a loopback port
// and returns it with its address.
func startBackend(t *testing.T) (*backend, string) {
	t.Helper()
	b := &backend{name: "payments-1", errorStatus: http.StatusServiceUnavailable, rnd: func() float64 { return 1 }}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	b.listen = addr
	return b, addr
}

func TestControlFailAndHeal(t *testing.T) {
	b, addr := startBackend(t)
	steps := []struct {
		args       []string
		wantOut    string
		wantStatus int32
	}{
		{[]string{"control", "-addr", addr, "fail"}, "payments-1 (" + addr + "): failing on purpose: every request but /health and /control/* answers 503\n", 503},
		{[]string{"control", "-addr", addr, "heal"}, "payments-1 (" + addr + "): healed: answering normally\n", 0},
		{[]string{"control", "fail", "-addr", addr, "-status", "502"}, "payments-1 (" + addr + "): failing on purpose: every request but /health and /control/* answers 502\n", 502},
		{[]string{"control", "heal", "-addr", addr}, "payments-1 (" + addr + "): healed: answering normally\n", 0},
	}
	for _, s := range steps {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), s.args, &out, &errOut); code != exitOK {
			t.Fatalf("%q: exit %d: %s", s.args, code, errOut.String())
		}
		if out.String() != s.wantOut {
			t.Errorf("%q: stdout %q, want %q", s.args, out.String(), s.wantOut)
		}
		if got := b.failStatus.Load(); got != s.wantStatus {
			t.Errorf("%q: the switch is %d, want %d", s.args, got, s.wantStatus)
		}
	}
}

func TestControlFailures(t *testing.T) {
	// Something that is not a demo-service: it refuses every control call.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no control here", http.StatusNotFound)
	}))
	defer refusing.Close()
	// One that answers 200 without switching.
	ignoring := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"instance":"x","listen":"y","failing":false}`))
	}))
	defer ignoring.Close()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		addr, action, want string
	}{
		{strings.TrimPrefix(refusing.URL, "http://"), "fail", "404 Not Found: no control here"},
		{strings.TrimPrefix(ignoring.URL, "http://"), "fail", `the instance answered {"instance":"x"`},
		{closed, "heal", "connection refused"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"control", "-addr", tt.addr, tt.action}, &out, &errOut)
		if code != exitFailure {
			t.Errorf("%s %s: exit %d, want 1", tt.addr, tt.action, code)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%s %s: stderr %q, want it to mention %q", tt.addr, tt.action, errOut.String(), tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("%s %s: stdout %q, want nothing", tt.addr, tt.action, out.String())
		}
	}
}
