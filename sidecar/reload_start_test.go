package sidecar

import (
	"context"
	"testing"
	"time"
)

// A SIGHUP can arrive between New and Run (cmd/outrigger watches for it
// before Run starts): the reload waits for Run to start the routes it
// replaces instead of handing Run routes that were never meant to start
// on their own (it panicked on an adopted route).
func TestReloadBeforeRunWaitsForIt(t *testing.T) {
	s, err := New(attackConfig(t, oneRouteConfig("5s")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() {
		_, err := s.Reload(attackConfig(t, oneRouteConfig("6s")))
		reloaded <- err
	}()
	select {
	case err := <-reloaded:
		t.Fatalf("Reload returned (%v) before Run started", err)
	case <-time.After(50 * time.Millisecond): // it is waiting, as it should
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Reload did not return once Run had started")
	}
	if got := s.Upstreams()[0].Config().Timeout; got != 6*time.Second {
		t.Errorf("timeout %v after the reload, want 6s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
