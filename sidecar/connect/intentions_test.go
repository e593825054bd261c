package connect

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func ixn(source string, action api.IntentionAction) *api.Intention {
	return &api.Intention{SourceName: source, SourceNS: "default", DestinationName: "payments", Action: action}
}

func l7(source string) *api.Intention {
	i := ixn(source, "")
	i.Permissions = []*api.IntentionPermission{{Action: api.IntentionActionAllow, HTTP: &api.IntentionHTTPPermission{PathPrefix: "/"}}}
	return i
}

const (
	allow = api.IntentionActionAllow
	deny  = api.IntentionActionDeny
)

func TestVerdictsOf(t *testing.T) {
	peer := ixn("web", allow)
	peer.SourcePeer = "other-cluster"
	otherNS := ixn("web", allow)
	otherNS.SourceNS = "team-a"
	otherPart := ixn("web", allow)
	otherPart.SourcePartition = "team-b"
	for _, tc := range []struct {
		name         string
		list         []*api.Intention
		exact        map[string]bool
		wildcard     bool // a wildcard intention decides the others
		wildcardVerb bool
	}{
		{name: "none", exact: map[string]bool{}},
		{name: "one deny", list: []*api.Intention{ixn("web", deny)}, exact: map[string]bool{"web": false}},
		{name: "first of a source wins", list: []*api.Intention{ixn("web", allow), ixn("web", deny)}, exact: map[string]bool{"web": true}},
		{name: "named above wildcard", list: []*api.Intention{ixn("web", allow), ixn("*", deny)},
			exact: map[string]bool{"web": true}, wildcard: true, wildcardVerb: false},
		{name: "wildcard shadows what follows", list: []*api.Intention{ixn("*", deny), ixn("web", allow)},
			exact: map[string]bool{}, wildcard: true, wildcardVerb: false},
		{name: "wildcard allow", list: []*api.Intention{ixn("web", deny), ixn("*", allow)},
			exact: map[string]bool{"web": false}, wildcard: true, wildcardVerb: true},
		{name: "L7 counts as deny", list: []*api.Intention{l7("web"), ixn("*", allow)},
			exact: map[string]bool{"web": false}, wildcard: true, wildcardVerb: true},
		{name: "L7 wildcard counts as deny", list: []*api.Intention{l7("*")},
			exact: map[string]bool{}, wildcard: true, wildcardVerb: false},
		{name: "unknown action is deny", list: []*api.Intention{ixn("web", "maybe")}, exact: map[string]bool{"web": false}},
		{name: "a peer's, another namespace's or partition's source does not match",
			list:  []*api.Intention{peer, otherNS, otherPart, ixn("billing", deny)},
			exact: map[string]bool{"billing": false}},
		{name: "nil entries are skipped", list: []*api.Intention{nil, ixn("web", allow)}, exact: map[string]bool{"web": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verdictsOf(tc.list)
			if !maps.Equal(v.exact, tc.exact) || v.fromIntention != tc.wildcard || (tc.wildcard && v.fallback != tc.wildcardVerb) {
				t.Fatalf("verdicts %+v, want exact %v wildcard %v (%v)", v, tc.exact, tc.wildcard, tc.wildcardVerb)
			}
		})
	}
}

// intentionsAgent is a static identity with scripted intentions.
func intentionsAgent(t *testing.T, steps ...answer[map[string][]*api.Intention]) (*fakeAgent, *testCA) {
	t.Helper()
	ca := newTestCA(t, "root-1", "11111111-2222-3333-4444-555555555555.consul")
	agent := staticAgent(ca.leaf(t, "dc1", "payments"), rootList(ca))
	agent.intentions = newScript(steps...)
	return agent, ca
}

func forPayments(list ...*api.Intention) map[string][]*api.Intention {
	return map[string][]*api.Intention{"payments": list}
}

func TestIntentionsFollowChanges(t *testing.T) {
	gates := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})}
	agent, ca := intentionsAgent(t,
		answer[map[string][]*api.Intention]{index: 7, val: forPayments()},
		answer[map[string][]*api.Intention]{index: 8, val: forPayments(ixn("web", allow)), gate: gates[0]},
		answer[map[string][]*api.Intention]{index: 9, val: forPayments(ixn("web", deny), ixn("*", allow)), gate: gates[1]},
		answer[map[string][]*api.Intention]{index: 10, val: forPayments(l7("web"), ixn("*", allow)), gate: gates[2]},
		answer[map[string][]*api.Intention]{index: 11, val: forPayments(), gate: gates[3]},
	)
	// ACLs with default deny: the probe says no.
	agent.authorize = func(int, *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
		return &api.AgentAuthorize{Authorized: false, Reason: "Default behavior configured by ACLs"}, nil
	}
	m, _, log := newTestManager("payments", agent)
	if m.Allowed("web") {
		t.Fatal("allowed before any intentions are known")
	}
	run(t, m)
	waitReady(t, m)

	type want struct{ web, billing bool }
	check := func(step string, w want) {
		t.Helper()
		eventually(t, 2*time.Second, step, func() bool { return m.Allowed("web") == w.web && m.Allowed("billing") == w.billing })
	}
	check("no intention: the default (deny)", want{false, false})
	close(gates[0])
	check("web allowed by name", want{true, false})
	close(gates[1])
	check("web denied, the others by the wildcard", want{false, true})
	close(gates[2])
	check("an L7 intention for web denies", want{false, true})
	close(gates[3])
	check("back to the default", want{false, false})

	calls := agent.authorizeCalls()
	if len(calls) != 3 { // not asked while a wildcard intention decided
		t.Fatalf("%d authorize calls, want 3: %+v", len(calls), calls)
	}
	wantURI := fmt.Sprintf("spiffe://%s/ns/default/dc/dc1/svc/outrigger-default-probe", ca.trustDomain)
	for _, c := range calls {
		if c.Target != "payments" || c.ClientCertURI != wantURI {
			t.Fatalf("authorize %+v, want target payments and %s", c, wantURI)
		}
	}
	agent.mu.Lock()
	args := agent.matchArgs[0]
	agent.mu.Unlock()
	if args.By != api.IntentionMatchDestination || !slices.Equal(args.Names, []string{"payments"}) {
		t.Fatalf("match args %+v", args)
	}
	// The L7 step has the verdicts of the one before: no line for it.
	if n := log.count("connect intentions changed"); n != 4 {
		t.Fatalf("%d intentions-changed lines, want 4", n)
	}
}

func TestProbeAsksAgainAfterAStaleAnswer(t *testing.T) {
	agent, _ := intentionsAgent(t, answer[map[string][]*api.Intention]{index: 7, val: forPayments(ixn("web", deny))})
	agent.authorize = func(n int, _ *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
		if n == 1 { // the agent's cache still has the wildcard deny just removed
			return &api.AgentAuthorize{Authorized: false, Reason: "Matched L4 intention: default/* => default/payments (Precedence: 8, Action: DENY)"}, nil
		}
		return &api.AgentAuthorize{Authorized: true, Reason: "Default behavior configured by ACLs"}, nil
	}
	m := startReady(t, "payments", agent)
	if m.Allowed("web") || !m.Allowed("billing") {
		t.Fatalf("web %v billing %v, want denied and allowed", m.Allowed("web"), m.Allowed("billing"))
	}
	if n := len(agent.authorizeCalls()); n != 2 {
		t.Fatalf("%d authorize calls, want 2", n)
	}
}

func TestProbeErrorRetriesAndKeepsNotReady(t *testing.T) {
	gate := make(chan struct{})
	agent, _ := intentionsAgent(t,
		answer[map[string][]*api.Intention]{index: 7, val: forPayments()},
		answer[map[string][]*api.Intention]{index: 7, val: forPayments(), gate: gate},
	)
	agent.authorize = func(n int, _ *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
		if n == 1 {
			return nil, errors.New("Unexpected response code: 500")
		}
		return &api.AgentAuthorize{Authorized: true, Reason: "Default behavior configured by ACLs"}, nil
	}
	m, rec, _ := newTestManager("payments", agent)
	run(t, m)
	eventually(t, 5*time.Second, "the failed probe is retried", func() bool { return agent.intentions.callCount() == 2 })
	select {
	case <-m.Ready():
		t.Fatal("ready without a verdict")
	default:
	}
	if m.Identity() != nil || m.Allowed("web") {
		t.Fatal("an identity or a verdict before Ready")
	}
	close(gate)
	waitReady(t, m)
	if !m.Allowed("web") {
		t.Fatal("web refused under a default allow")
	}
	// The third query (waiting on index 7) is sent after Ready: wait for it.
	eventually(t, 5*time.Second, "the watch asks again at index 7", func() bool { return agent.intentions.callCount() >= 3 })
	if got, want := agent.intentions.waitIndexes()[:3], []uint64{0, 0, 7}; !slices.Equal(got, want) {
		t.Fatalf("wait indexes %v, want %v", got, want)
	}
	if got := rec.backoffs(); len(got) != 1 {
		t.Fatalf("backoffs %v, want one", got)
	}
}

func TestDeniedCounts(t *testing.T) {
	m := New(nil, nil, Options{Service: "payments"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.CountDenied("web")
				m.CountDenied("billing")
			}
		})
	}
	wg.Wait()
	m.CountDenied("")
	type row struct {
		source string
		n      uint64
	}
	var got []row
	m.EachDenied(func(source string, n uint64) { got = append(got, row{source, n}) })
	want := []row{{"", 1}, {"billing", 800}, {"web", 800}}
	if !slices.Equal(got, want) {
		t.Fatalf("denied %v, want %v", got, want)
	}
}
