package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "-name is required"},
		{[]string{"-name", "a", "-listen", "nope"}, `-listen "nope": must be host:port`},
		{[]string{"-name", "a", "-error-rate", "1.5"}, "-error-rate must be between 0 and 1"},
		{[]string{"-name", "a", "-error-rate", "NaN"}, "-error-rate must be between 0 and 1"},
		{[]string{"-name", "a", "-error-status", "42"}, "-error-status must be an HTTP status"},
		{[]string{"-name", "a", "-latency", "-1s"}, "-latency must be >= 0"},
		{[]string{"-name", "a", "extra"}, "unexpected arguments"},
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"load"}, "-url is required"},
		{[]string{"load", "-url", "127.0.0.1:80"}, "must be an absolute http://"},
		{[]string{"load", "-url", "http://x", "-requests", "0"}, "-requests must be 1.."},
		{[]string{"load", "-url", "http://x", "-concurrency", "0"}, "-concurrency must be 1.."},
		{[]string{"load", "-url", "http://x", "-timeout", "0s"}, "-timeout must be > 0"},
		{[]string{"load", "-url", "http://x", "-deadline", "-1s"}, "-deadline must be > 0"},
		{[]string{"freeport", "-n", "0"}, "-n must be 1.."},
		{[]string{"-name", "a", "-consul", "127.0.0.1:8500"}, "-service is required with -consul"},
		{[]string{"-name", "a", "-consul", "nope", "-service", "s"}, `-consul "nope": must be host:port`},
		{[]string{"-name", "a", "-service", "s"}, "-service and -tags only make sense with -consul"},
		{[]string{"-name", "a", "-tags", "x"}, "-service and -tags only make sense with -consul"},
		{[]string{"consul-wait"}, "-consul is required"},
		{[]string{"consul-wait", "-consul", "127.0.0.1:8500"}, "-service is required"},
		{[]string{"consul-wait", "-consul", "127.0.0.1:8500", "-service", "s"}, "-passing is required"},
		{[]string{"consul-wait", "-consul", "127.0.0.1:8500", "-service", "s", "-passing", "1", "-timeout", "0s"}, "-timeout must be > 0"},
		{[]string{"upstreams"}, "-admin is required"},
		{[]string{"upstreams", "-admin", "x"}, `-admin "x": must be host:port`},
		{[]string{"upstreams", "-admin", "127.0.0.1:1"}, "-upstream is required"},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-want", "-2"}, "-want must be >= 0"},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-endpoint", "x"}, `-endpoint "x": must be host:port`},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-endpoint", "127.0.0.1:2", "-want", "1"}, "give only one of them"},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-want-ejected", "true"}, "-want-ejected needs -endpoint"},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-endpoint", "127.0.0.1:2", "-want-ejected", "maybe"}, "must be true or false"},
		{[]string{"upstreams", "-admin", "127.0.0.1:1", "-upstream", "u", "-endpoint", "127.0.0.1:2", "-want-ejected"}, "flag needs an argument"},
		{[]string{"control"}, "an action is required: fail, slow or heal"},
		{[]string{"control", "-addr", "127.0.0.1:1"}, "an action is required"},
		{[]string{"control", "fail"}, "-addr is required"},
		{[]string{"control", "-addr", "x", "heal"}, `-addr "x": must be host:port`},
		{[]string{"control", "-addr", "127.0.0.1:1", "explode"}, `unknown action "explode"`},
		{[]string{"control", "-addr", "127.0.0.1:1", "fail", "-status", "200"}, "-status must be an HTTP error status (400..599)"},
		{[]string{"control", "-addr", "127.0.0.1:1", "heal", "-status", "503"}, "flag provided but not defined: -status"},
		{[]string{"control", "-addr", "127.0.0.1:1", "heal", "now"}, "unexpected arguments"},
		{[]string{"control", "-addr", "127.0.0.1:1", "-timeout", "0s", "heal"}, "-timeout must be > 0"},
		{[]string{"control", "-addr", "127.0.0.1:1", "slow"}, "slow: -delay is required"},
		{[]string{"control", "-addr", "127.0.0.1:1", "slow", "-delay", "-1s"}, "-delay must be above 0 and at most 1m0s"},
		{[]string{"control", "-addr", "127.0.0.1:1", "slow", "-delay", "2m"}, "-delay must be above 0 and at most 1m0s"},
		{[]string{"control", "-addr", "127.0.0.1:1", "fail", "-delay", "1s"}, "flag provided but not defined: -delay"},
		{[]string{"load", "-url", "http://x", "-rate", "-1"}, "-rate must be 0..100000"},
		{[]string{"load", "-url", "http://x", "-rate", "NaN"}, "-rate must be 0..100000"},
		{[]string{"load", "-url", "http://x", "-duration", "-1s"}, "-duration must be >= 0"},
		{[]string{"load", "-url", "http://x", "-duration", "3m"}, "-duration 3m0s must be shorter than -deadline 2m0s"},
		{[]string{"load", "-url", "http://x", "-every", "-1s"}, "-every must be >= 0"},
		{[]string{"load", "-url", "http://x", "-every", "1ms"}, "-every 1ms is too short"},
		{[]string{"load", "-url", "http://x", "-ramp", "payments-1"}, "-ramp needs -every"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errOut)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: stderr %q, want it to mention %q", tt.args, errOut.String(), tt.want)
		}
	}
}

func TestFreeport(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"freeport", "-n", "5"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) != 5 {
		t.Fatalf("got %q, want 5 ports", out.String())
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if p, err := strconv.Atoi(l); err != nil || p <= 0 || p > 65535 {
			t.Errorf("not a port: %q", l)
		}
		if seen[l] {
			t.Errorf("port %s twice", l)
		}
		seen[l] = true
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server goroutine while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeAndGracefulShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"-name", "svc", "-listen", "127.0.0.1:0"}, io.Discard, &logs)
	}()

	// Poll the log for the bound address, with a deadline.
	addrRE := regexp.MustCompile(`msg=listening instance=svc addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-exited:
			t.Fatalf("server exited %d early: %s", code, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in time: %q", logs.String())
		}
	}

	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || line != "ok" {
		t.Fatalf("/health: %d %q", resp.StatusCode, line)
	}

	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("exit %d after shutdown, want 0: %s", code, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop after its context ended")
	}
}
