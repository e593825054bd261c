package sidecar

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
)

// The probe address may face the network, so the connections it holds are
// capped (admin.ProbeMaxConns): a client opening connection after
// connection and sending nothing (slowloris) gets the rest left in the
// kernel's backlog, not a descriptor and a goroutine each, which would in
// the end take the descriptors the data plane needs. Once the hog's
// connections go, probes are answered again.
func TestProbeAddressCapsConnections(t *testing.T) {
	s, err := New(attackConfig(t, probeConfig("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:1")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open, most := 0, 0
	s.probe.ConnState = func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open++
			most = max(most, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return open, most
	}
	runSidecar(t, s)

	hog := make([]net.Conn, 0, admin.ProbeMaxConns+16)
	defer func() {
		for _, c := range hog {
			c.Close()
		}
	}()
	for range cap(hog) {
		c, err := net.DialTimeout("tcp", s.ProbeAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		hog = append(hog, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := counts(); n < admin.ProbeMaxConns; n, _ = counts() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the hog's connections were served within 5s", n)
		}
		time.Sleep(time.Millisecond) // polling the server's count, bounded by the deadline
	}
	// Proving that nothing more is accepted takes a moment of watching:
	// without the cap the other 16 are accepted within microseconds.
	time.Sleep(200 * time.Millisecond)
	if _, m := counts(); m > admin.ProbeMaxConns {
		t.Fatalf("the probe server held %d connections at once, want at most %d", m, admin.ProbeMaxConns)
	}
	for _, c := range hog {
		c.Close()
	}
	hog = hog[:0]
	if status, body := probeGet(t, "http://"+s.ProbeAddr()+"/healthz"); status != 200 || body != "ok\n" {
		t.Fatalf("/healthz after the hog left: %d %q", status, body)
	}
}
