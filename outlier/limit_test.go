package outlier

import (
	"fmt"
	"testing"
	"time"
)

// The rows of docs/outlier.md's table.
var limitRows = []struct {
	hosts int
	pct   float64
	want  int
}{
	{1, 0, 0}, {1, 10, 0}, {1, 50, 0}, {1, 100, 0},
	{2, 0, 1}, {2, 10, 1}, {2, 50, 1}, {2, 100, 1},
	{3, 0, 1}, {3, 10, 1}, {3, 50, 1}, {3, 100, 2},
	{10, 0, 1}, {10, 10, 1}, {10, 30, 3}, {10, 50, 5}, {10, 100, 9},
}

func TestMaxEjected(t *testing.T) {
	rows := append(limitRows[:len(limitRows):len(limitRows)], []struct {
		hosts int
		pct   float64
		want  int
	}{
		{0, 50, 0}, {-1, 50, 0}, {3, 66.7, 2}, {3, 30, 1}, {4, 25, 1}, {4, 75, 3}, {20, 10, 2}, {100, 10, 10},
	}...)
	for _, tc := range rows {
		if got := MaxEjected(tc.hosts, tc.pct); got != tc.want {
			t.Errorf("MaxEjected(%d, %v) = %d, want %d", tc.hosts, tc.pct, got, tc.want)
		}
	}
}

func TestEjectionLimit(t *testing.T) {
	for _, tc := range limitRows {
		t.Run(fmt.Sprintf("%d hosts at %v%%", tc.hosts, tc.pct), func(t *testing.T) {
			cfg := testConfig()
			cfg.Consecutive5xx, cfg.MaxEjectionPercent = 1, tc.pct
			f := newFixture(t, cfg, tc.hosts)
			// Every host fails, over and over, in turn.
			for range 3 {
				for _, h := range f.hosts {
					f.record(h, Upstream5xx, 4)
				}
			}
			if got := f.ejectedCount(); got != tc.want {
				t.Fatalf("%d ejected, want %d", got, tc.want)
			}
			for i, h := range f.hosts {
				if h.Ejected() != (i < tc.want) {
					t.Errorf("host %d ejected %v; want the first %d in order", i, h.Ejected(), tc.want)
				}
			}
		})
	}
}

func TestRefusedEjection(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.ConsecutiveLocalFailure = 3, 3
	f := newFixture(t, cfg, 2) // one of two may go
	first, second := f.hosts[0], f.hosts[1]
	f.eject5xx(t, first)

	// The threshold is reached, the limit refuses: no change, still in
	// rotation, counters reset.
	f.record(second, Upstream5xx, 2)
	f.record(second, LocalFailure, 2)
	if f.record(second, Upstream5xx, 1) != 0 || second.Ejected() {
		t.Fatal("ejected beyond the limit")
	}
	if second.cons5xx.Load() != 0 || second.consLocal.Load() != 0 {
		t.Fatalf("counters after a refusal: 5xx %d local %d, want 0 0", second.cons5xx.Load(), second.consLocal.Load())
	}
	if second.Ejections() != 0 || second.Reason() != ReasonNone || second.EjectionsTotal(Consecutive5xx) != 0 {
		t.Fatal("a refused ejection was counted")
	}
	// Two more failures are not a fresh run of three.
	f.record(second, Upstream5xx, 2)
	if second.cons5xx.Load() != 2 {
		t.Fatalf("cons5xx = %d, want 2", second.cons5xx.Load())
	}
	// More refusals in the same run are logged once.
	f.record(second, Upstream5xx, 1+3*5)
	if got := f.logs.lines(t, "outlier ejection refused"); len(got) != 1 {
		t.Fatalf("%d refusal lines, want 1", len(got))
	} else if got[0]["level"] != "DEBUG" || got[0]["endpoint"] != second.Address() || got[0]["reason"] != "consecutive_5xx" ||
		got[0]["ejected"] != 1.0 || got[0]["max_ejected"] != 1.0 || got[0]["endpoints"] != 2.0 {
		t.Errorf("refusal line: %v", got[0])
	}

	// Once the first host is back there is room, and the next run ejects.
	f.clock.Advance(30 * time.Second)
	if !f.d.Sweep() || first.Ejected() {
		t.Fatal("first host not returned")
	}
	if !(f.record(second, Upstream5xx, 3) == 1 && second.Ejected()) {
		t.Fatal("not ejected once there was room")
	}
	// first is refused now: its own run, its own line; a Sweep without room
	// does not start a new run.
	f.record(first, Upstream5xx, 3)
	f.clock.Advance(10 * time.Second)
	f.d.Sweep()
	f.record(first, Upstream5xx, 3)
	if got := f.logs.lines(t, "outlier ejection refused"); len(got) != 2 || got[1]["endpoint"] != first.Address() {
		t.Fatalf("refusal lines: %v", got)
	}
	// second returns (there is room: runs end), first goes, and second's
	// next refusal is a new run, logged again.
	f.clock.Advance(50 * time.Second)
	if !f.d.Sweep() || second.Ejected() {
		t.Fatal("second host not returned")
	}
	f.eject5xx(t, first)
	f.record(second, Upstream5xx, 3)
	if got := f.logs.lines(t, "outlier ejection refused"); len(got) != 3 || got[2]["endpoint"] != second.Address() {
		t.Errorf("refusal lines: %v", got)
	}
}

func TestSetHostsRemovingEjectedHostFreesSlot(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	f := newFixture(t, cfg, 3) // 50% of 3: one
	a, b, c := f.hosts[0], f.hosts[1], f.hosts[2]
	f.eject5xx(t, a)
	if f.d.Record(b, Upstream5xx, time.Millisecond) || b.Ejected() {
		t.Fatal("second ejection of three at 50% was allowed")
	}
	f.d.SetHosts([]*Host{b, c}) // a left discovery while ejected
	if !f.d.Record(b, Upstream5xx, time.Millisecond) || !b.Ejected() {
		t.Fatal("the slot of the departed host was not freed")
	}
	if f.d.Record(c, Upstream5xx, time.Millisecond) || c.Ejected() {
		t.Fatal("the last host in rotation was ejected")
	}
	// a is no longer swept: its own state stays until it comes back.
	f.clock.Advance(time.Hour)
	f.d.Sweep()
	if !a.Ejected() || b.Ejected() {
		t.Fatalf("after the sweep: a ejected %v (want true, unlisted), b ejected %v (want false)", a.Ejected(), b.Ejected())
	}
	f.d.SetHosts(f.hosts)
	if !f.d.Sweep() || a.Ejected() {
		t.Fatal("a listed again was not returned by the next Sweep")
	}
}

func TestSetHostsShrinkingReturnsEjectedHostsEarly(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx, cfg.MaxEjectionPercent = 1, 50
	f := newFixture(t, cfg, 4) // 50% of 4: two
	a, b, c := f.hosts[0], f.hosts[1], f.hosts[2]
	f.eject5xx(t, a)
	f.clock.Advance(time.Second)
	f.eject5xx(t, b) // due back a second after a
	// Three hosts allow one ejection: a, due back first, returns.
	f.d.SetHosts([]*Host{b, a, c})
	if a.Ejected() || !b.Ejected() {
		t.Fatalf("after shrinking to 3: a ejected %v, b ejected %v; want false true", a.Ejected(), b.Ejected())
	}
	// The only endpoint left is never an ejected one.
	f.d.SetHosts([]*Host{b})
	if b.Ejected() {
		t.Fatal("the only endpoint stayed ejected")
	}
	lines := f.logs.lines(t, "outlier endpoint returned")
	if len(lines) != 2 || lines[0]["endpoint"] != a.Address() || lines[0]["cause"] != "max_ejection_percent" {
		t.Errorf("return lines: %v", lines)
	}
}

func TestSetHostsIgnoresNilAndDuplicates(t *testing.T) {
	cfg := testConfig()
	cfg.Consecutive5xx = 1
	f := newFixture(t, cfg, 2)
	a, b := f.hosts[0], f.hosts[1]
	// Counted as two hosts, not four: one may be ejected, not two.
	f.d.SetHosts([]*Host{a, nil, a, b, b})
	f.eject5xx(t, a)
	if f.d.Record(b, Upstream5xx, time.Millisecond) {
		t.Fatal("both of two hosts ejected")
	}
}
