package main

// The registration flow against a real Consul dev agent: <repo>/bin/consul,
// built by `make tools` (which `make test` runs first), started by
// consultest (which retries a start that lost a port race). The test
// fails, rather than skips, when the binary is missing.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
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

func TestRegistrationWithRealConsulAgent(t *testing.T) {
	addr := consultest.Start(t).Addr()

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
	addr := consultest.Start(t).Addr()
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
