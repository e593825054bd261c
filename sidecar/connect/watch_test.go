package connect

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestLeafWatchIndexRules(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	a, b := ca.leaf(t, "dc1", "payments"), ca.leaf(t, "dc1", "payments")
	agent := staticAgent(nil, rootList(ca))
	agent.leaf = newScript(
		answer[*api.LeafCert]{index: 10, val: a},
		answer[*api.LeafCert]{index: 10, val: b}, // unchanged index: skipped, b is not applied
		answer[*api.LeafCert]{index: 12, val: a}, // new index, same leaf: dropped
		answer[*api.LeafCert]{index: 13, val: b}, // a rotation
		answer[*api.LeafCert]{index: 5, val: b},  // backwards: reset; same leaf, dropped
		answer[*api.LeafCert]{index: 0, val: b},  // 0: never wait on 0
		answer[*api.LeafCert]{index: 20, val: b},
	)
	m, rec, log := newTestManager("payments", agent)
	run(t, m)
	<-agent.leaf.ended
	waitReady(t, m)

	// Each query waits on the previous answer's index; after the index went
	// backwards (5 < 13) it is reset to 0 and then raised to 1, and so is
	// an answer of 0.
	if got, want := agent.leaf.waitIndexes(), []uint64{0, 10, 10, 12, 13, 1, 1, 20}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v", got, want)
	}
	if id := m.Identity(); id == nil || id.Serial != b.SerialNumber {
		t.Fatalf("identity %+v, want the leaf of serial %s", id, b.SerialNumber)
	}
	if n, r := log.count("connect leaf certificate loaded"), log.count("connect leaf certificate rotated"); n != 1 || r != 1 {
		t.Fatalf("%d loaded and %d rotated lines, want 1 and 1 (a, b; the repeats are dropped)", n, r)
	}
	if bo := rec.backoffs(); len(bo) != 0 {
		t.Fatalf("backoffs %v without an error", bo)
	}
	agent.mu.Lock()
	names := slices.Compact(agent.leafNames)
	agent.mu.Unlock()
	if !slices.Equal(names, []string{"payments"}) {
		t.Fatalf("leaf asked for %v", names)
	}
	agent.leaf.mu.Lock()
	q := agent.leaf.calls[0]
	agent.leaf.mu.Unlock()
	if w := q.WaitTime; w != 5*time.Minute-(5*time.Minute/16)+1 {
		t.Fatalf("wait time %v, want jittered below 5m", w)
	}
}

func TestRootsErrorsKeepTheLastIdentityAndBackOff(t *testing.T) {
	ca1 := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	ca2 := newTestCA(t, "root-2", ca1.trustDomain)
	boom := errors.New("connection refused")
	steps := []answer[*api.CARootList]{{index: 5, val: rootList(ca1)}}
	for range 9 {
		steps = append(steps, answer[*api.CARootList]{err: boom})
	}
	gate := make(chan struct{})
	steps = append(steps,
		answer[*api.CARootList]{index: 5, val: rootList(ca1)},                  // back: identical, dropped
		answer[*api.CARootList]{index: 7, val: rootList(ca2, ca1), gate: gate}, // a rotation, when the test says
	)
	agent := staticAgent(ca1.leaf(t, "dc1", "payments"), nil)
	agent.roots = newScript(steps...)
	m, rec, log := newTestManager("payments", agent)
	run(t, m)
	waitReady(t, m)
	eventually(t, 5*time.Second, "the roots watch reaches its last answer", func() bool { return agent.roots.callCount() == len(steps) })

	before := m.Identity()
	if before == nil || before.RootCount != 1 || before.ActiveRootID != "root-1" {
		t.Fatalf("after 9 errors: identity %+v, want the last one (root-1)", before)
	}
	if got, want := agent.roots.waitIndexes(), []uint64{0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v (an error resets to 0)", got, want)
	}
	// Capped exponential: with the most jitter, exactly base·2^(n-1) up to 5 s.
	s := time.Second
	want := []time.Duration{s / 4, s / 2, s, 2 * s, 4 * s, 5 * s, 5 * s, 5 * s, 5 * s}
	if got := rec.backoffs(); !slices.Equal(got, want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
	if w, a := log.count("consul connect query failed; keeping the last known state"), log.count("consul connect query answered again"); w != 1 || a != 1 {
		t.Fatalf("%d failure and %d recovery lines, want one each", w, a)
	}
	if n := log.count("connect CA roots changed"); n != 0 {
		t.Fatalf("%d roots-changed lines for an identical answer", n)
	}

	close(gate)
	eventually(t, 5*time.Second, "the new roots are in use", func() bool { return m.Identity().ActiveRootID == "root-2" })
	after := m.Identity()
	if after.RootCount != 2 || after.Serial != before.Serial || before.RootCount != 1 {
		t.Fatalf("after the rotation %+v; before %+v (the old snapshot must not change)", after, before)
	}
	if n := log.count("connect CA roots changed"); n != 1 {
		t.Fatalf("%d roots-changed lines, want 1", n)
	}
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	for _, r := range []func(int64) int64{func(int64) int64 { return 0 }, func(n int64) int64 { return n - 1 }} {
		m := New(nil, nil, Options{Rand: r})
		for n := 1; n < 40; n++ {
			d := m.pacing.Backoff(n)
			full := min(backoffBase<<min(n-1, 20), backoffCap)
			if d < full/2 || d > full || d > backoffCap {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func TestUnusableLeafKeepsTheLastAndRetries(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	good := ca.leaf(t, "dc1", "payments")
	wrong := ca.leaf(t, "dc1", "billing") // another service's identity
	broken := &api.LeafCert{SerialNumber: "ff", CertPEM: "not a certificate"}
	agent := staticAgent(nil, rootList(ca))
	agent.leaf = newScript(
		answer[*api.LeafCert]{index: 3, val: good},
		answer[*api.LeafCert]{index: 4, val: broken},
		answer[*api.LeafCert]{index: 5, val: wrong},
		answer[*api.LeafCert]{index: 5, val: good},
	)
	m, rec, _ := newTestManager("payments", agent)
	run(t, m)
	<-agent.leaf.ended
	waitReady(t, m)
	if id := m.Identity(); id.Serial != good.SerialNumber {
		t.Fatalf("serial %s, want the good leaf's %s", id.Serial, good.SerialNumber)
	}
	if got, want := agent.leaf.waitIndexes(), []uint64{0, 3, 0, 0, 5}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v", got, want)
	}
	if got := rec.backoffs(); len(got) != 2 {
		t.Fatalf("backoffs %v, want two (one per unusable leaf)", got)
	}
}

func TestRunStopsWhileQueriesBlock(t *testing.T) {
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	agent := staticAgent(ca.leaf(t, "dc1", "payments"), rootList(ca))
	m := New(agent, agent, Options{Service: "payments"}) // real sleeps and clock
	stop := run(t, m)
	waitReady(t, m)
	stop() // fails the test when Run does not return
	if m.Identity() == nil || !m.Allowed("web") {
		t.Fatal("a stopped Manager keeps its last identity and verdicts")
	}
}
