package upstream

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// manualClock is an injected clock the test moves by hand.
type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time          { return c.t }
func (c *manualClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newClockedUpstream is an upstream with the default settings edited by
// edit, on a manual clock, with seeded randomness and a log in buf.
func newClockedUpstream(t *testing.T, edit func(*config.Upstream)) (*Upstream, *manualClock, *bytes.Buffer) {
	t.Helper()
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	edit(&cfg)
	clk := &manualClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	u, err := New(cfg, Options{Now: clk.now, Rand: rand.New(rand.NewPCG(1, 2)),
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return u, clk, &buf
}

// sendTo sends n requests, each answered at once, and counts those that
// went to addr; distinct client keys, so ip_hash spreads them.
func sendTo(t *testing.T, u *Upstream, n int, addr string, seq *int) (hits int) {
	t.Helper()
	for range n {
		*seq++
		key := "10.0." + strconv.Itoa(*seq/256%256) + "." + strconv.Itoa(*seq%256)
		a, ref := u.Begin(nil, key, nil)
		if ref != nil {
			t.Fatalf("refused: %v", ref.Reason)
		}
		if a.Endpoint().Address == addr {
			hits++
		}
		a.End(Answer(200))
	}
	return hits
}

// runFor advances the clock over d in 10 ms steps, sending per requests at
// each step and calling Reweigh when its ticker would fire; it returns the
// share of requests addr got.
func runFor(t *testing.T, u *Upstream, clk *manualClock, d time.Duration, per int, addr string, seq *int) float64 {
	t.Helper()
	every := u.ReweighInterval()
	var hits, total int
	for step := time.Duration(0); step < d; step += 10 * time.Millisecond {
		hits += sendTo(t, u, per, addr, seq)
		total += per
		clk.advance(10 * time.Millisecond)
		if every > 0 && clk.t.UnixNano()%int64(every) == 0 {
			u.Reweigh()
		}
	}
	return float64(hits) / float64(total)
}

// A 4th endpoint that joins with slow_start: 10s gets at most 40% of a
// fair share (1/4) over its first 2 s, and a fair share ±25% once its
// window is over, under every policy.
func TestSlowStartShareUnderEveryPolicy(t *testing.T) {
	for _, lb := range []string{"least_conn", "round_robin", "random", "ip_hash", "p2c_ewma"} {
		t.Run(lb, func(t *testing.T) {
			u, clk, _ := newClockedUpstream(t, func(c *config.Upstream) { c.LB = lb; c.SlowStart = 10 * time.Second })
			u.Update(instances("a:1", "b:2", "c:3"))
			seq := 0
			runFor(t, u, clk, time.Second, 4, "d:4", &seq)
			u.Update(instances("a:1", "b:2", "c:3", "d:4"))
			early := runFor(t, u, clk, 2*time.Second, 4, "d:4", &seq)
			runFor(t, u, clk, 8*time.Second, 1, "d:4", &seq)
			late := runFor(t, u, clk, 4*time.Second, 4, "d:4", &seq)
			t.Logf("share in the first 2 s %.3f, from 10 s to 14 s %.3f", early, late)
			if early > 0.4*0.25 {
				t.Errorf("share %.3f in the first 2 s, want <= 40%% of 1/4", early)
			}
			if late < 0.75*0.25 || late > 1.25*0.25 {
				t.Errorf("share %.3f after the window, want 1/4 ±25%%", late)
			}
		})
	}
}

// The ramp's weights step with the clock: 10% at the start, then
// 0.1 + 0.9 × elapsed/window, and the plain weights (no weights at all when
// equal) once the window is over; the admin's SlowStartUntil follows.
func TestSlowStartWeightsStepWithReweigh(t *testing.T) {
	u, clk, _ := newClockedUpstream(t, func(c *config.Upstream) { c.SlowStart = 10 * time.Second })
	first := instances("a:1", "b:2")
	first[1].Weight = 2
	u.Update(first)
	s := u.Snapshot()
	if s.Members[0].SlowStartUntil() != (time.Time{}) || s.Members[1].SlowStartUntil() != (time.Time{}) {
		t.Fatal("the first discovery result ramps")
	}
	if w := s.Set.Weights; len(w) != 2 || w[0] != 1 || w[1] != 2 {
		t.Fatalf("weights %v, want discovery's [1 2]", w)
	}
	joined := clk.t
	u.Update(append(first, instances("c:3")...))
	check := func(wantC float64) {
		t.Helper()
		s := u.Snapshot()
		if w := s.Set.Weights; len(w) != 3 || w[0] != 1 || w[1] != 2 || abs(w[2]-wantC) > 1e-9 {
			t.Fatalf("at +%v weights %v, want [1 2 %v]", clk.t.Sub(joined), w, wantC)
		}
		if got := s.Members[2].SlowStartUntil(); !got.Equal(joined.Add(10 * time.Second)) {
			t.Fatalf("slow_start_until %v, want %v", got, joined.Add(10*time.Second))
		}
		if s.Members[2].Weight != 1 {
			t.Fatalf("member weight %d: it is discovery's, not the ramp's", s.Members[2].Weight)
		}
	}
	check(0.1)
	clk.advance(5 * time.Second)
	check(0.1) // no Reweigh yet: the snapshot stands
	u.Reweigh()
	check(0.55)
	clk.advance(5 * time.Second)
	u.Reweigh()
	s = u.Snapshot()
	if w := s.Set.Weights; len(w) != 3 || w[2] != 1 || s.Members[2].SlowStartUntil() != (time.Time{}) {
		t.Fatalf("after the window: weights %v until %v", w, s.Members[2].SlowStartUntil())
	}
	u.Reweigh() // nothing ramps: no new snapshot
	if u.Snapshot() != s {
		t.Fatal("Reweigh republished with nothing ramping")
	}
}

func abs(x float64) float64 { return max(x, -x) }

// Ramps start on joining, on becoming healthy again, on going from warning
// to passing and on returning from ejection — not for the first result,
// and never with slow_start 0.
func TestSlowStartTriggers(t *testing.T) {
	ramping := func(u *Upstream, addr string) bool {
		for _, m := range u.Snapshot().Members {
			if m.Endpoint.Address == addr {
				return !m.SlowStartUntil().IsZero()
			}
		}
		t.Fatalf("%s not a member", addr)
		return false
	}
	set := func(healthy, warning bool) []discovery.Instance {
		in := instances("a:1", "b:2", "c:3")
		in[2].Healthy, in[2].Warning = healthy, warning
		return in
	}

	u, clk, _ := newClockedUpstream(t, func(c *config.Upstream) { c.SlowStart = 10 * time.Second })
	u.Update(set(true, false))
	if ramping(u, "c:3") {
		t.Fatal("first result ramps")
	}
	u.Update(set(false, false))
	clk.advance(time.Second)
	u.Update(set(true, false))
	if !ramping(u, "c:3") {
		t.Fatal("no ramp on becoming healthy again")
	}
	clk.advance(10 * time.Second)
	u.Reweigh()
	u.Update(set(true, true))
	if ramping(u, "c:3") {
		t.Fatal("a ramp on going from passing to warning")
	}
	u.Update(set(true, false))
	if !ramping(u, "c:3") {
		t.Fatal("no ramp on going from warning to passing")
	}

	off, _, _ := newClockedUpstream(t, func(c *config.Upstream) {})
	off.Update(instances("a:1"))
	off.Update(instances("a:1", "b:2"))
	if ramping(off, "b:2") || off.Snapshot().Set.Weighted() || off.ReweighInterval() != 0 {
		t.Fatal("slow start 0 ramps")
	}
}

func TestSlowStartOnReturnFromEjection(t *testing.T) {
	u, clk, _ := newClockedUpstream(t, func(c *config.Upstream) {
		c.LB = "round_robin"
		c.SlowStart = 10 * time.Second
	})
	u.Update(instances("a:1", "b:2", "c:3"))
	for range 30 { // 503s from c:3 only: five in a row eject it
		a, ref := u.Begin(nil, "", nil)
		if ref != nil {
			t.Fatal(ref.Reason)
		}
		if a.Endpoint().Address == "c:3" {
			a.End(Answer(503))
		} else {
			a.End(Answer(200))
		}
	}
	if len(u.Snapshot().Pickable) != 2 {
		t.Fatalf("pickable %d after c:3's 503s, want 2", len(u.Snapshot().Pickable))
	}
	clk.advance(31 * time.Second) // base_ejection_time 30s
	u.Sweep()
	s := u.Snapshot()
	if len(s.Pickable) != 3 || !s.Set.Weighted() || s.Set.Weights[2] != 0.1 {
		t.Fatalf("after the return: pickable %d weights %v, want c:3 back at 0.1", len(s.Pickable), s.Set.Weights)
	}
	if got := s.Members[2].SlowStartUntil(); !got.Equal(clk.t.Add(10 * time.Second)) {
		t.Fatalf("slow_start_until %v, want %v", got, clk.t.Add(10*time.Second))
	}
}

// health: passing_or_warning uses warning endpoints only while no passing
// one is left, and logs the switch once each way; with health: passing
// a warning endpoint is never picked.
func TestWarningFallback(t *testing.T) {
	set := func(aHealthy bool) []discovery.Instance {
		in := instances("a:1", "w:2")
		in[0].Healthy = aHealthy
		in[1].Warning = true
		return in
	}
	pickable := func(u *Upstream) string {
		var out []string
		for _, e := range u.Snapshot().Pickable {
			out = append(out, e.Address)
		}
		return strings.Join(out, ",")
	}
	u, _, log := newClockedUpstream(t, func(c *config.Upstream) { c.Health = config.HealthPassingOrWarning })
	u.Update(set(true))
	if got := pickable(u); got != "a:1" {
		t.Fatalf("pickable %q with a passing endpoint, want a:1", got)
	}
	u.Update(set(false))
	u.Update(set(false)) // still in fallback: no second line
	if got := pickable(u); got != "w:2" {
		t.Fatalf("pickable %q with no passing endpoint, want the warning w:2", got)
	}
	if a, ref := u.Begin(nil, "", nil); ref != nil || a.Endpoint().Address != "w:2" {
		t.Fatalf("begin: %v", ref)
	} else {
		a.End(Answer(200))
	}
	u.Update(set(true))
	if got := pickable(u); got != "a:1" {
		t.Fatalf("pickable %q with the passing endpoint back, want a:1", got)
	}
	logs := log.String()
	if strings.Count(logs, "no passing endpoint left") != 1 || strings.Count(logs, "passing endpoints back") != 1 {
		t.Fatalf("fallback log lines:\n%s", logs)
	}

	strict, _, _ := newClockedUpstream(t, func(c *config.Upstream) {})
	strict.Update(set(false))
	if got := pickable(strict); got != "" {
		t.Fatalf("health passing: pickable %q, want none", got)
	}
	if _, ref := strict.Begin(nil, "", nil); ref == nil || ref.Reason.String() != "no_healthy_upstream" {
		t.Fatalf("health passing: refusal %v, want no_healthy_upstream", ref)
	}
}

// Discovery weights reach the policy: 10:1 through Begin gives 10:1, and
// equal weights leave the set unweighted (the policies' plain path).
func TestDiscoveryWeightsReachThePolicy(t *testing.T) {
	u, _, _ := newClockedUpstream(t, func(c *config.Upstream) { c.LB = "round_robin" })
	in := instances("a:1", "b:2")
	in[0].Weight, in[1].Weight = 5, 5
	u.Update(in)
	if u.Snapshot().Set.Weighted() {
		t.Fatal("equal weights give a weighted set")
	}
	in = instances("a:1", "b:2")
	in[0].Weight, in[1].Weight = 10, 1
	u.Update(in)
	seq := 0
	if hits := sendTo(t, u, 1100, "b:2", &seq); hits < 98 || hits > 102 {
		t.Fatalf("b:2 (weight 1 of 11) got %d of 1100", hits)
	}
	if m := u.Snapshot().Members; m[0].Weight != 10 || m[1].Weight != 1 {
		t.Fatalf("member weights %d %d", m[0].Weight, m[1].Weight)
	}
}
