package sidecar

import (
	"testing"
	"time"
)

// Run holds s.mu for a whole drain, and /ready and /metrics ask for the
// mesh and the inbound upstream meanwhile: neither may wait on that lock.
func TestMeshAndInboundDoNotWaitOnTheDrainLock(t *testing.T) {
	s, err := New(attackConfig(t, `
service: {name: web, port: 8080}
inbound: {listen: 127.0.0.1:0}
admin: {listen: 127.0.0.1:0}
consul: {address: 127.0.0.1:1}   # nothing there: the mesh watches just back off
connect: {enabled: true}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.closePorts()
		s.stopMesh()
		s.meshDone.Wait()
	}()
	s.mu.Lock() // as a drain does
	defer s.mu.Unlock()
	done := make(chan bool, 1)
	go func() { done <- s.Mesh() != nil && s.Inbound() != nil }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("Mesh() or Inbound() is nil with connect and inbound on")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Mesh() or Inbound() waited on s.mu")
	}
}
