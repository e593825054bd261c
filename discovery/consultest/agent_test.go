package consultest

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"
)

// One agent through its whole life: started with a leader, killed (the
// API refuses), restarted on the same address with the same client.
func TestStartStopRestart(t *testing.T) {
	a := Start(t)
	cl := a.Client()
	if leader, err := cl.Status().Leader(); err != nil || leader == "" {
		t.Fatalf("after Start: leader %q, %v", leader, err)
	}
	if a.Process() == nil {
		t.Fatal("no process after Start")
	}
	if !strings.Contains(a.Log().String(), "Consul agent") {
		t.Fatalf("the log lacks the agent's banner:\n%s", a.Log())
	}
	addr := a.Addr()

	a.Stop()
	if a.Process() != nil {
		t.Fatal("a process after Stop")
	}
	if _, err := cl.Status().Leader(); err == nil {
		t.Fatal("the API answered after Stop")
	}
	a.Stop() // twice is fine (the cleanup does it again)

	a.Restart()
	if a.Addr() != addr || a.Client() != cl {
		t.Fatalf("restarted on %s (client %p), want %s (client %p)", a.Addr(), a.Client(), addr, cl)
	}
	if leader, err := cl.Status().Leader(); err != nil || leader == "" {
		t.Fatalf("after Restart: leader %q, %v", leader, err)
	}
	if err := cl.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "x-1", Name: "x", Port: 1}); err != nil {
		t.Fatalf("register after Restart: %v", err)
	}
	if !strings.Contains(a.Log().String(), "restarted on the same ports") {
		t.Fatalf("the log does not mark the restart:\n%s", a.Log())
	}
}

// A port taken between FreePorts and the agent's bind makes the agent exit;
// Start tries again on fresh ports instead of failing the test.
func TestStartRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	a := start(t, func() [4]int {
		picks++
		var p [4]int
		copy(p[:], FreePorts(t, len(p)))
		if picks == 1 {
			p[0] = takenPort // the HTTP port: the agent cannot bind it
		}
		return p
	})
	if picks != 2 {
		t.Fatalf("%d port choices, want 2 (one refused, one that worked)", picks)
	}
	if a.ports[0] == takenPort {
		t.Fatalf("the agent runs on the taken port %d", takenPort)
	}
	if leader, err := a.Client().Status().Leader(); err != nil || leader == "" {
		t.Fatalf("leader %q, %v", leader, err)
	}
}

// fakeTB records how a helper ends the test instead of ending the real one.
type fakeTB struct {
	testing.TB
	fatal   string
	skipped bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Skip(...any)                       { f.skipped = true; runtime.Goexit() }
func (f *fakeTB) Skipf(string, ...any)              { f.skipped = true; runtime.Goexit() }
func (f *fakeTB) SkipNow()                          { f.skipped = true; runtime.Goexit() }

// A missing tool fails the test with the `make tools` hint; it never skips.
func TestToolBinaryMissingFailsNeverSkips(t *testing.T) {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ToolBinary(f, "no-such-tool")
	}()
	<-done
	if f.skipped || !strings.Contains(f.fatal, "bin/no-such-tool is missing: run `make tools`") {
		t.Fatalf("skipped %v, fatal %q", f.skipped, f.fatal)
	}
	if bin := ToolBinary(t, "consul"); !strings.HasSuffix(bin, "/bin/consul") {
		t.Fatalf("consul at %s", bin)
	}
}

func TestFreePortsAreDistinctAndFree(t *testing.T) {
	ports := FreePorts(t, 4)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not distinct positive ports", ports)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d was not released: %v", p, err)
		}
		ln.Close()
	}
}

// Run with -race: the buffer is written and read from several goroutines.
func TestLogBufferConcurrent(t *testing.T) {
	var b LogBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
}
