package main

// The registration flow against a real Consul dev agent: <repo>/bin/consul,
// built by `make tools` (which `make test` runs first). The test fails,
// rather than skips, when the binary is missing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this package's main in a child process: the test
// binary itself, with runMainEnv set, is demo-service.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const runMainEnv = "DEMO_SERVICE_TEST_RUN_MAIN"

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// consulBinary is <repo>/bin/consul.
func consulBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(moduleRoot(t), "bin", "consul")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make tools` (make test does it first): %v", bin, err)
	}
	return bin
}

// startConsulAgent starts a dev agent on free loopback ports, waits for it
// to have a leader and returns its HTTP address; the agent is stopped when
// the test ends. A port taken between freePorts and the agent's bind makes
// the agent exit, so that is retried a few times.
func startConsulAgent(t *testing.T) string {
	t.Helper()
	bin := consulBinary(t)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		addr, err := tryConsulAgent(t, bin)
		if err == nil {
			return addr
		}
		lastErr = err
		t.Logf("consul agent, attempt %d: %v", attempt, err)
	}
	t.Fatalf("could not start a consul dev agent: %v", lastErr)
	return ""
}

func tryConsulAgent(t *testing.T, bin string) (string, error) {
	ports, err := freePorts(4)
	if err != nil {
		return "", err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	var logs syncBuffer
	cmd := exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", strconv.Itoa(ports[0]), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", strconv.Itoa(ports[1]), "-serf-wan-port", strconv.Itoa(ports[2]),
		"-server-port", strconv.Itoa(ports[3]), "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	killWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}

	client, _ := newConsulClient(httpAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var leader string
		err := client.do(context.Background(), "GET", "/v1/status/leader", nil, &leader)
		if err == nil && leader != "" {
			t.Cleanup(stop)
			return httpAddr, nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("agent exited early: %s", logs.String())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("no leader within 30s (last: %v): %s", err, logs.String())
		}
	}
}

func TestRegistrationWithRealConsulAgent(t *testing.T) {
	addr := startConsulAgent(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exited := startServe(ctx, []string{"-name", "pay-1", "-listen", "127.0.0.1:0",
		"-consul", addr, "-service", "pay-test", "-tags", "blue,canary"}, &logs)

	// consul-wait sees it once its HTTP check has passed.
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "pay-test", "-passing", "1", "-timeout", "20s"}, &out, &errOut); code != exitOK {
		t.Fatalf("consul-wait -passing 1: exit %d: %s\nserver logs: %s", code, errOut.String(), logs.String())
	}
	if !strings.Contains(out.String(), "pay-test has 1 passing instances: pay-1 (127.0.0.1:") {
		t.Errorf("consul-wait printed %q", out.String())
	}

	client, _ := newConsulClient(addr)
	entries, err := client.passing(context.Background(), "pay-test")
	if err != nil || len(entries) != 1 {
		t.Fatalf("passing: %v, %v", entries, err)
	}
	e := entries[0]
	if !slices.Equal(e.Service.Tags, []string{"blue", "canary"}) || e.Service.Address != "127.0.0.1" || e.Service.Port <= 0 {
		t.Errorf("registered as %+v, want tags [blue canary] on 127.0.0.1", e.Service)
	}

	cancel() // as SIGTERM does
	if code := waitExit(t, exited, &logs); code != exitOK {
		t.Fatalf("server exit %d, want 0: %s", code, logs.String())
	}
	// Deregistration happened before exit: the agent no longer knows it...
	var svc map[string]any
	err = client.do(context.Background(), "GET", "/v1/agent/service/pay-1", nil, &svc)
	var se *statusError
	if !errors.As(err, &se) || se.status != 404 {
		t.Errorf("GET /v1/agent/service/pay-1 after exit: %v, %v; want 404", svc, err)
	}
	// ... and the catalog follows.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "pay-test", "-passing", "0", "-timeout", "20s"}, &out, &errOut); code != exitOK {
		t.Fatalf("consul-wait -passing 0: exit %d: %s", code, errOut.String())
	}
}

// A real SIGTERM to a demo-service process, as deploy/demo/demo.sh sends:
// this checks the signal path of main itself.
func TestRealConsulDeregistersOnSIGTERM(t *testing.T) {
	addr := startConsulAgent(t)
	var logs syncBuffer
	cmd := exec.Command(os.Args[0], "-name", "sig-1", "-listen", "127.0.0.1:0", "-consul", addr, "-service", "sig-test")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	killWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // in case the test failed before the SIGTERM
		<-done
	})

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "sig-test", "-passing", "1", "-timeout", "20s"}, &out, &errOut); code != exitOK {
		t.Fatalf("consul-wait -passing 1: exit %d: %s\nserver logs: %s", code, errOut.String(), logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0: %s", waitErr, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20s of SIGTERM: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "deregistered from Consul") {
		t.Errorf("logs do not mention the deregistration: %s", logs.String())
	}
	if code := run(context.Background(), []string{"consul-wait", "-consul", addr, "-service", "sig-test", "-passing", "0", "-timeout", "20s"}, &out, &errOut); code != exitOK {
		t.Fatalf("consul-wait -passing 0: exit %d: %s", code, errOut.String())
	}
}
