package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// newSeamUpstream is an upstream with the default retry, outlier and
// breaker settings on a fixed clock, and one endpoint per address.
func newSeamUpstream(t *testing.T, addrs ...string) *Upstream {
	t.Helper()
	return newSeamUpstreamWith(t, func(*config.Upstream) {}, addrs...)
}

func newSeamUpstreamWith(t *testing.T, edit func(*config.Upstream), addrs ...string) *Upstream {
	t.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	edit(&cfg)
	u, err := New(cfg, Options{Now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	u.Update(instances(addrs...))
	return u
}

// Each kind of outcome is accounted once and as the contract says: a
// client that went away is recorded as 499 and counts as nobody's failure
// (not the endpoint's, not the detector's, not the breaker's).
func TestEndAccountsEachKindOnce(t *testing.T) {
	for _, tt := range []struct {
		o          Outcome
		status     int
		endpointKO bool // counts as the endpoint's failure
	}{
		{Answer(200), 200, false},
		{Answer(404), 404, false},
		{Answer(503), 503, true},
		{Unwell(200), 200, true},
		{Failed(ConnectFailed), 502, true},
		{Failed(Reset), 502, true},
		{Failed(TimedOut), 504, true},
		{Failed(ProtocolError), 502, true},
		{Failed(ClientGone), 499, false},
	} {
		u := newSeamUpstream(t, "a:1")
		a, ref := u.Begin(nil, "", nil)
		if ref != nil {
			t.Fatal(ref)
		}
		a.End(tt.o)
		a.End(Failed(Reset)) // a second End is a no-op
		ep := a.Endpoint()
		if ep.Active() != 0 || ep.Requests() != 1 {
			t.Errorf("%v: active %d requests %d, want 0 and 1", tt.o, ep.Active(), ep.Requests())
		}
		if got := ep.Failures() == 1; got != tt.endpointKO {
			t.Errorf("%v: endpoint failures %d, want failure=%v", tt.o, ep.Failures(), tt.endpointKO)
		}
		codes := map[int]uint64{}
		ep.EachCode(func(code int, n uint64) { codes[code] = n })
		if codes[tt.status] != 1 || len(codes) != 1 {
			t.Errorf("%v: recorded with codes %v, want one %d", tt.o, codes, tt.status)
		}
		if tt.o.Status() != tt.status {
			t.Errorf("%v: Status %d, want %d", tt.o, tt.o.Status(), tt.status)
		}
	}
}

// A client's fault never opens the breaker; the endpoint's failures do.
func TestClientGoneNeverOpensTheBreaker(t *testing.T) {
	u := newSeamUpstream(t, "a:1", "b:2", "c:3")
	for range 100 {
		a, ref := u.Begin(nil, "", nil)
		if ref != nil {
			t.Fatalf("refused after client failures: %v", ref.Reason)
		}
		a.End(Failed(ClientGone))
	}
	if st := u.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %s after 100 client failures", st)
	}
	for _, ep := range u.Snapshot().Pickable {
		if ep.Outlier.Ejected() {
			t.Fatalf("%s ejected by client failures", ep.Address)
		}
	}
	for range 40 {
		a, ref := u.Begin(nil, "", nil)
		if ref != nil {
			break
		}
		a.End(Failed(Reset))
	}
	if st := u.Breaker().State(); st != breaker.Open {
		t.Fatalf("breaker %s after 40 resets, want open", st)
	}
	if _, ref := u.Begin(nil, "", nil); ref == nil || ref.Reason.String() != "circuit_open" {
		t.Fatalf("refusal %v, want circuit_open", ref)
	}
}

// The retry gate: one table of the rules every front end shares.
func TestRetryGate(t *testing.T) {
	idem := Replay{Idempotent: true, Resendable: true}
	for _, tt := range []struct {
		name    string
		o       Outcome
		retries int
		r       Replay
		want    Verdict
	}{
		{"success", Answer(200), 0, idem, NoRetry},
		{"404 is an answer", Answer(404), 0, idem, NoRetry},
		{"503 listed", Answer(503), 0, Replay{Written: true, Idempotent: true, Resendable: true}, RetryNow},
		{"500 not listed", Answer(500), 0, Replay{Written: true, Idempotent: true, Resendable: true}, NoRetry},
		{"attempts used up", Answer(503), 1, Replay{Written: true, Idempotent: true, Resendable: true}, NoRetry},
		{"connect failure, POST", Failed(ConnectFailed), 0, Replay{Resendable: true}, RetryNow},
		{"reset after a POST was written", Failed(Reset), 0, Replay{Written: true, Resendable: true}, NoRetry},
		{"reset before a POST was written", Failed(Reset), 0, Replay{Resendable: true}, RetryNow},
		{"503 to a POST", Answer(503), 0, Replay{Written: true, Resendable: true}, NoRetry},
		{"body streamed away", Failed(Reset), 0, Replay{Written: true, Idempotent: true}, NoRetry},
		{"timeout retried as a 504", Failed(TimedOut), 0, Replay{Written: true, Idempotent: true, Resendable: true}, RetryNow},
		{"protocol error is a reset", Failed(ProtocolError), 0, Replay{Written: true, Idempotent: true, Resendable: true}, RetryNow},
		{"client gone", Failed(ClientGone), 0, idem, NoRetry},
	} {
		u := newSeamUpstream(t, "a:1", "b:2")
		a, _ := u.Begin(nil, "", nil)
		a.End(tt.o)
		if got := a.Retry(context.Background(), tt.retries, tt.o, tt.r); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}

	u := newSeamUpstream(t, "a:1", "b:2")
	a, _ := u.Begin(nil, "", nil)
	a.End(Answer(503))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := a.Retry(ctx, 0, Answer(503), idem); got != NoRetry {
		t.Errorf("no time left: %v, want NoRetry", got)
	}
}

// With the budget spent, a due retry is refused as BudgetExhausted.
func TestRetryGateBudget(t *testing.T) {
	u := newSeamUpstreamWith(t, func(c *config.Upstream) {
		c.Retries.MinPerSecond, c.Retries.BudgetPercent = 1, 0 // 10 retries in the 10 s window
		c.CircuitBreaker.MinRequests = 1000
	}, "a:1", "b:2")
	idem := Replay{Idempotent: true, Resendable: true}
	verdicts := map[Verdict]int{}
	for range 30 { // on a frozen clock
		a, ref := u.Begin(nil, "", nil)
		if ref != nil {
			break // the breaker opened (after 20 failures)
		}
		a.End(Failed(ConnectFailed))
		verdicts[a.Retry(context.Background(), 0, Failed(ConnectFailed), idem)]++
	}
	if verdicts[RetryNow] != 10 || verdicts[BudgetExhausted] != 20 {
		t.Fatalf("verdicts %v: want some retries, then the budget exhausted", verdicts)
	}
	if got := u.Stats().Retries(); got != uint64(verdicts[RetryNow]) {
		t.Fatalf("retries counted %d, want %d", got, verdicts[RetryNow])
	}
}
