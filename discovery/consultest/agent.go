package consultest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const (
	// leaderTimeout bounds one start-up: a dev agent elects itself in about
	// a second, but a loaded CI machine running the e2e tests in parallel
	// has taken far longer.
	leaderTimeout = 30 * time.Second
	// pollInterval is how often the start-up asks for a leader.
	pollInterval = 50 * time.Millisecond
	// startAttempts: a port taken by someone else between FreePorts and the
	// agent's bind makes the agent exit at once; fresh ports fix that.
	startAttempts = 3
)

// Agent is a running `consul agent -dev` on loopback ports of its own.
//
// Its methods are meant for the test's goroutine (they may call t.Fatal);
// the mutex only keeps Process, Stop and the cleanup race-free should a
// test call them from another goroutine.
type Agent struct {
	t     testing.TB
	bin   string
	ports [4]int // http, serf lan, serf wan, server
	cl    *api.Client
	log   *LogBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
}

// Start runs a dev agent on free loopback ports and waits until it has a
// leader; the test's cleanup kills it. An agent that exits or finds no
// leader within 30 s is retried on fresh ports, up to three times in all,
// before the test fails with the agent's log.
func Start(t testing.TB) *Agent {
	t.Helper()
	return start(t, func() [4]int {
		var p [4]int
		copy(p[:], FreePorts(t, len(p)))
		return p
	})
}

// start is Start with the port choice injected, so that the retry on a
// taken port can be shown by a test.
func start(t testing.TB, pick func() [4]int) *Agent {
	t.Helper()
	a := &Agent{t: t, bin: ToolBinary(t, "consul")}
	t.Cleanup(a.Stop)
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		a.ports, a.log = pick(), &LogBuffer{}
		cfg := api.DefaultConfig()
		cfg.Address = a.Addr()
		if a.cl, err = api.NewClient(cfg); err != nil {
			t.Fatal(err)
		}
		if err = a.run(); err == nil {
			return a
		}
		a.Stop()
		t.Logf("consul dev agent, attempt %d of %d: %v", attempt, startAttempts, err)
	}
	t.Fatalf("could not start a consul dev agent in %d attempts: %v", startAttempts, err)
	return nil
}

// run starts the process on a.ports and waits for a leader.
func (a *Agent) run() error {
	p := func(i int) string { return strconv.Itoa(a.ports[i]) }
	cmd := exec.Command(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", p(0), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", p(1), "-serf-wan-port", p(2), "-server-port", p(3), "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = a.log, a.log
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	a.mu.Lock()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()

	// The query is cancelled when the agent exits, not only at the deadline:
	// when the agent lost a port race, whoever holds its HTTP port may
	// accept the query and never answer.
	ctx, cancel := context.WithTimeout(context.Background(), leaderTimeout)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	exited := func() error {
		return fmt.Errorf("consul exited during start-up (%v):\n%s", cmd.ProcessState, a.log)
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	q := (&api.QueryOptions{}).WithContext(ctx)
	for {
		leader, err := a.cl.Status().LeaderWithQueryOptions(q)
		if err == nil && leader != "" {
			return nil
		}
		select {
		case <-done:
			return exited()
		case <-ctx.Done():
			select {
			case <-done:
				return exited()
			default:
			}
			return fmt.Errorf("consul had no leader within %v (%v):\n%s", leaderTimeout, err, a.log)
		case <-poll.C:
		}
	}
}

// Addr is the agent's HTTP API address, host:port.
func (a *Agent) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports[0]) }

// Client is the test's one API client for the agent, the same across
// Restart. One, not one per call: every api.Client has its own connection
// pool, and a poll that made a client each time left hundreds of idle
// connections until the agent's limit of 200 per client address answered
// 429 to everything.
func (a *Agent) Client() *api.Client { return a.cl }

// Binary is the consul executable the agent runs (for `consul connect
// proxy` and the like).
func (a *Agent) Binary() string { return a.bin }

// Log is everything the agent has printed, across restarts.
func (a *Agent) Log() *LogBuffer { return a.log }

// Process is the running agent's process, for signals such as SIGSTOP
// (an agent that hangs rather than refuses); nil while stopped.
func (a *Agent) Process() *os.Process {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return nil
	}
	return a.cmd.Process
}

// Stop kills the agent (an outage, as far as its clients can tell) and
// waits for it to exit. Stopping a stopped agent does nothing.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	select {
	case <-a.done:
	default:
		a.cmd.Process.Kill() // SIGKILL ends a SIGSTOPped agent too
		<-a.done
	}
	a.cmd, a.done = nil, nil
}

// Restart stops the agent if it runs and starts a new one on the same
// ports, so that clients configured with Addr find it again; a dev agent
// keeps nothing, so registrations must be made again. Unlike Start it
// does not retry: other ports would not do.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	fmt.Fprintf(a.log, "--- consultest: restarted on the same ports ---\n")
	if err := a.run(); err != nil {
		a.Stop()
		a.t.Fatalf("restarting the consul dev agent on %s: %v", a.Addr(), err)
	}
}
