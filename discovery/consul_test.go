package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// scriptedHealth answers ServiceMultipleTags from a script. It stands in
// for Consul only in these unit tests, for what a real agent cannot be made
// to do on demand (an index going backwards or to 0); the integration tests
// in sidecar/e2e run a real agent.
type scriptedHealth struct {
	steps   []step
	calls   []api.QueryOptions
	passing []bool // each call's passingOnly
	cancel  context.CancelFunc
	service string
	tags    []string
}

type step struct {
	index   uint64
	entries []*api.ServiceEntry
	err     error
}

func (s *scriptedHealth) ServiceMultipleTags(service string, tags []string, passing bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	s.service, s.tags = service, tags
	s.calls = append(s.calls, *q)
	s.passing = append(s.passing, passing)
	if len(s.calls) > len(s.steps) {
		s.cancel()
		return nil, nil, q.Context().Err()
	}
	st := s.steps[len(s.calls)-1]
	if st.err != nil {
		return nil, nil, st.err
	}
	return st.entries, &api.QueryMeta{LastIndex: st.index}, nil
}

func entry(id, addr, nodeAddr string, port int) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Address: nodeAddr},
		Service: &api.AgentService{ID: id, Address: addr, Port: port},
	}
}

// runScript runs a watch over steps and returns what it delivered, the
// errors it reported and the sleeps it asked for.
func runScript(t *testing.T, steps []step, seed []Instance) (h *scriptedHealth, sets [][]Instance, errs []error, sleeps []time.Duration) {
	t.Helper()
	return runScriptWith(t, steps, ConsulOptions{Seed: seed})
}

// runScriptWith is runScript with more options (Seed, IncludeWarning).
func runScriptWith(t *testing.T, steps []step, o ConsulOptions) (h *scriptedHealth, sets [][]Instance, errs []error, sleeps []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h = &scriptedHealth{steps: steps, cancel: cancel}
	now := time.Unix(1700000000, 0)
	c := NewConsul(h, ConsulOptions{
		Service: "payments", Tags: []string{"v2"}, WaitTime: 5 * time.Minute, AllowStale: true, Seed: o.Seed,
		IncludeWarning: o.IncludeWarning,
		Sleep:          func(ctx context.Context, d time.Duration) bool { sleeps = append(sleeps, d); return ctx.Err() == nil },
		Rand:           func(n int64) int64 { return n - 1 }, // the most jitter: deterministic
		Now:            func() time.Time { return now },
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, func(in []Instance) { sets = append(sets, in) }, func(err error) { errs = append(errs, err) })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop after its script")
	}
	return h, sets, errs, sleeps
}

func waitIndexes(h *scriptedHealth) []uint64 {
	out := make([]uint64, len(h.calls))
	for i, q := range h.calls {
		out[i] = q.WaitIndex
	}
	return out
}

func TestConsulWatchIndexRules(t *testing.T) {
	a := entry("a", "10.0.0.1", "node", 80)
	b := entry("b", "", "10.0.0.9", 81) // no service address: the node's
	h, sets, errs, _ := runScript(t, []step{
		{index: 10, entries: []*api.ServiceEntry{b, a}},
		{index: 10, entries: []*api.ServiceEntry{a, b}}, // unchanged index: skipped
		{index: 12, entries: []*api.ServiceEntry{b, a}}, // new index, same set: dropped
		{index: 13, entries: []*api.ServiceEntry{a}},    // a change: delivered
		{index: 5, entries: []*api.ServiceEntry{a, b}},  // backwards: reset, delivered
		{index: 0, entries: []*api.ServiceEntry{a, b}},  // 0: never wait on 0
		{index: 20, entries: []*api.ServiceEntry{a, b}},
	}, nil)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := [][]Instance{
		{{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 1}, {Address: "10.0.0.9:81", ID: "b", Healthy: true, Weight: 1}},
		{{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 1}},
		{{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 1}, {Address: "10.0.0.9:81", ID: "b", Healthy: true, Weight: 1}},
	}
	if !slices.EqualFunc(sets, want, slices.Equal) {
		t.Fatalf("delivered %v\nwant      %v", sets, want)
	}
	// Each query waits on the index of the previous answer; after the index
	// went backwards (5 < 13) it is reset to 0 and then raised to 1, and so
	// is an answer of 0.
	if got, want := waitIndexes(h), []uint64{0, 10, 10, 12, 13, 1, 1, 20}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v", got, want)
	}
	if slices.Contains(h.passing, false) {
		t.Fatalf("passingOnly per call %v: health: passing must ask for ?passing every time", h.passing)
	}
	q := h.calls[0]
	if h.service != "payments" || !slices.Equal(h.tags, []string{"v2"}) || !q.AllowStale {
		t.Fatalf("query: service %q tags %v stale %v", h.service, h.tags, q.AllowStale)
	}
	if w := q.WaitTime; w != 5*time.Minute-(5*time.Minute/16)+1 {
		t.Fatalf("wait time %v, want jittered below 5m", w)
	}
}

func TestConsulWatchBacksOffAndSeeds(t *testing.T) {
	boom := errors.New("connection refused")
	seed := []Instance{{Address: "10.0.0.7:80", ID: "seeded", Healthy: true}}
	steps := make([]step, 0, 12)
	for range 10 {
		steps = append(steps, step{err: boom})
	}
	steps = append(steps, step{index: 3, entries: []*api.ServiceEntry{entry("a", "10.0.0.1", "", 80)}})
	h, sets, errs, sleeps := runScript(t, steps, seed)
	if len(errs) != 10 {
		t.Fatalf("%d errors reported, want 10", len(errs))
	}
	if len(sets) != 2 || sets[0][0].ID != "seeded" || sets[1][0].ID != "a" {
		t.Fatalf("delivered %v: want the seed, then Consul's set", sets)
	}
	// Backoff with Rand at its maximum: base·2^(n-1), capped at 10 s.
	wantSleeps := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(sleeps[:10], wantSleeps) {
		t.Fatalf("backoff %v, want %v", sleeps[:10], wantSleeps)
	}
	for _, q := range h.calls[:11] {
		if q.WaitIndex != 0 {
			t.Fatalf("wait index %d before any answer", q.WaitIndex)
		}
	}
}

func TestConsulWatchKeepsLastSetOnErrors(t *testing.T) {
	a := entry("a", "10.0.0.1", "", 80)
	h, sets, errs, _ := runScript(t, []step{
		{index: 40, entries: []*api.ServiceEntry{a}},
		{err: errors.New("down")},
		{err: errors.New("down")},
		{index: 4, entries: []*api.ServiceEntry{a}}, // a restarted agent: lower index, same set
	}, []Instance{{Address: "9.9.9.9:1"}})
	if len(errs) != 2 || len(sets) != 1 {
		t.Fatalf("sets %v errs %v: an outage must deliver nothing (no empty set, no seed after a real result)", sets, errs)
	}
	// After an error the watch re-reads at index 0 rather than blocking on
	// an index the next agent may never reach.
	if got, want := waitIndexes(h)[:5], []uint64{0, 40, 0, 0, 4}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v", got, want)
	}
}

func TestConsulWatchStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	blocked := make(chan struct{})
	c := NewConsul(healthFunc(func(q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
		close(blocked)
		<-q.Context().Done()
		return nil, nil, q.Context().Err()
	}), ConsulOptions{Service: "x", WaitTime: time.Minute})
	done := make(chan struct{})
	var errs int
	go func() {
		c.Run(ctx, func([]Instance) {}, func(error) { errs++ })
		close(done)
	}()
	<-blocked
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop on cancel")
	}
	if errs != 0 {
		t.Fatalf("cancellation reported as %d errors", errs)
	}
}

type healthFunc func(q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error)

func (f healthFunc) ServiceMultipleTags(_ string, _ []string, _ bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	return f(q)
}

// A blocking query carries a deadline of its wait plus Consul's jitter
// and QueryGrace: an agent that hangs (stopped, or a connection gone
// without a FIN) cannot stall the watch for good.
func TestConsulQueryHasADeadline(t *testing.T) {
	got := make(chan time.Duration, 1)
	w := NewConsul(healthFunc(func(q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
		d, ok := q.Context().Deadline()
		if !ok {
			got <- -1
		} else {
			got <- time.Until(d)
		}
		<-q.Context().Done()
		return nil, nil, q.Context().Err()
	}), ConsulOptions{Service: "payments", WaitTime: time.Minute, Rand: func(int64) int64 { return 0 }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, func([]Instance) {}, nil)
	d := <-got
	if lo, hi := time.Minute+time.Minute/16+QueryGrace-5*time.Second, time.Minute+time.Minute/16+QueryGrace; d < lo || d > hi {
		t.Fatalf("the query's deadline is %v away, want %v (wait + wait/16 + QueryGrace)", d, hi)
	}
}

// weighted is an entry with Consul weights and checks of the given statuses
// (the node's serfHealth among them, as a real agent reports it).
func weighted(id, addr string, passing, warning int, statuses ...string) *api.ServiceEntry {
	e := entry(id, addr, "", 80)
	e.Service.Weights = api.AgentWeights{Passing: passing, Warning: warning}
	e.Checks = api.HealthChecks{{CheckID: "serfHealth", Status: api.HealthPassing}}
	for i, st := range statuses {
		e.Checks = append(e.Checks, &api.HealthCheck{CheckID: fmt.Sprintf("check-%s-%d", id, i), Status: st})
	}
	return e
}

// Consul's Service.Weights become each instance's weight (0 counts as 1);
// a change of weight alone is a change of set; with IncludeWarning the
// query drops ?passing, a warning instance comes with its warning weight
// and Warning set, and critical or maintenance ones stay out.
func TestConsulWatchWeightsAndWarnings(t *testing.T) {
	pass := weighted("a", "10.0.0.1", 10, 1, api.HealthPassing)
	zero := weighted("b", "10.0.0.2", 0, 0)
	warn := weighted("c", "10.0.0.3", 5, 2, api.HealthPassing, api.HealthWarning)
	warnZero := weighted("d", "10.0.0.4", 5, 0, api.HealthWarning)
	crit := weighted("e", "10.0.0.5", 1, 1, api.HealthWarning, api.HealthCritical)
	maint := weighted("f", "10.0.0.6", 1, 1)
	maint.Checks = append(maint.Checks, &api.HealthCheck{CheckID: api.ServiceMaintPrefix + "f", Status: api.HealthCritical})
	heavier := weighted("a", "10.0.0.1", 20, 1, api.HealthPassing)

	h, sets, _, _ := runScriptWith(t, []step{
		{index: 10, entries: []*api.ServiceEntry{pass, zero}},
		{index: 11, entries: []*api.ServiceEntry{heavier, zero}},
	}, ConsulOptions{})
	want := [][]Instance{
		{{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 10}, {Address: "10.0.0.2:80", ID: "b", Healthy: true, Weight: 1}},
		{{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 20}, {Address: "10.0.0.2:80", ID: "b", Healthy: true, Weight: 1}},
	}
	if !slices.EqualFunc(sets, want, slices.Equal) || slices.Contains(h.passing, false) {
		t.Fatalf("passing: delivered %v (passingOnly %v)\nwant      %v", sets, h.passing, want)
	}

	h, sets, _, _ = runScriptWith(t, []step{
		{index: 10, entries: []*api.ServiceEntry{maint, crit, warnZero, warn, zero, pass}},
	}, ConsulOptions{IncludeWarning: true})
	want = [][]Instance{{
		{Address: "10.0.0.1:80", ID: "a", Healthy: true, Weight: 10},
		{Address: "10.0.0.2:80", ID: "b", Healthy: true, Weight: 1},
		{Address: "10.0.0.3:80", ID: "c", Healthy: true, Weight: 2, Warning: true},
		{Address: "10.0.0.4:80", ID: "d", Healthy: true, Weight: 1, Warning: true},
	}}
	if !slices.EqualFunc(sets, want, slices.Equal) {
		t.Fatalf("passing_or_warning: delivered %v\nwant      %v", sets, want)
	}
	if slices.Contains(h.passing, true) {
		t.Fatalf("passingOnly per call %v: passing_or_warning must not ask for ?passing", h.passing)
	}
}
