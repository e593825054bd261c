package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The request's timeout context is a whole context for whoever asks:
// Deadline, Err by the clock, a Done that closes at the deadline or with
// the parent, AfterFunc — and a CancelScope without the deadline, which
// is what h1.Client watches.
func TestRequestCtx(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	tc := newRequestCtx(parent, 150*time.Millisecond)
	defer tc.release()
	if d, ok := tc.Deadline(); !ok || time.Until(d) > 150*time.Millisecond {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if tc.Err() != nil || tc.CancelScope() != parent {
		t.Fatal("fresh context ended, or the scope is not the parent")
	}
	fired := make(chan struct{})
	tc.AfterFunc(func() { close(fired) })
	select {
	case <-tc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(tc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v", tc.Err())
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	if parent.Err() != nil {
		t.Fatal("the deadline ended the parent")
	}

	// Err alone, never materialised, follows the clock and the parent.
	tc2 := newRequestCtx(parent, time.Hour)
	cancelParent()
	if !errors.Is(tc2.Err(), context.Canceled) {
		t.Fatalf("Err after the parent ended: %v", tc2.Err())
	}
	tc3 := &requestCtx{Context: context.Background(), deadline: time.Now().Add(-time.Second), hasDeadline: true}
	if !errors.Is(tc3.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err past the deadline: %v", tc3.Err())
	}
	select {
	case <-tc3.Done():
	default:
		t.Fatal("Done of a context past its deadline is open")
	}
}

// A child of a context made whole sees a non-nil Err when the request
// ends (release): context's own rule, which its AfterFunc relies on
// (per_try_timeout's child context panicked here once).
func TestRequestCtxReleaseEndsChildren(t *testing.T) {
	tc := newRequestCtx(context.Background(), time.Hour)
	child, cancel := context.WithCancel(tc)
	defer cancel()
	tc.release() // nothing made whole yet: nothing to do
	if child.Err() != nil {
		t.Fatal("child ended before release of a whole context")
	}
	tc2 := newRequestCtx(context.Background(), time.Hour)
	child2, cancel2 := context.WithCancel(tc2)
	defer cancel2()
	tc2.release()
	select {
	case <-child2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("child not ended by release")
	}
	if child2.Err() == nil || tc2.Err() == nil {
		t.Fatalf("Err after release: child %v, ctx %v", child2.Err(), tc2.Err())
	}
}

// Without a timeout the request's context has no deadline, yet still ends
// with the request for whoever watches it (per_try_timeout's
// registration, which would otherwise stay on the client connection's
// context for as long as it lives).
func TestRequestCtxWithoutTimeoutEndsWithTheRequest(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := newRequestCtx(parent, 0)
	if _, ok := rc.Deadline(); ok || rc.Err() != nil {
		t.Fatal("a context without a timeout has a deadline or ended")
	}
	done := make(chan struct{})
	context.AfterFunc(rc, func() { close(done) })
	rc.release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("release did not end what was registered on the request's context")
	}
	if rc.Err() == nil || parent.Err() != nil {
		t.Fatalf("after release: Err %v, parent %v", rc.Err(), parent.Err())
	}
}

// A context first asked for Done after the request ended (net/http's
// HTTP/2 client may ask late) is already over: nothing registered on it
// outlives the request, and Err says so even if it was never made whole.
func TestRequestCtxAskedAfterRelease(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := newRequestCtx(parent, 0)
	rc.release()
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("Err after release: %v", rc.Err())
	}
	select {
	case <-rc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done asked after release is open")
	}
	if parent.Err() != nil {
		t.Fatal("release ended the parent")
	}
}
