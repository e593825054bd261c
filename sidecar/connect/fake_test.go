package connect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// answer is one scripted answer of a blocking query.
type answer[T any] struct {
	index uint64
	val   T
	err   error
	// gate, when set, holds the answer back until it is closed: a blocking
	// query waiting for a change the test makes when it chooses.
	gate chan struct{}
}

// script answers one kind of blocking query from a list. It stands in for
// Consul only in unit tests, for what a real agent cannot be made to do on
// demand (an index going backwards or to 0, errors); consul_test.go runs a
// real agent. After the list, a query blocks until its context ends, as a
// blocking query on an unchanging index would.
type script[T any] struct {
	mu    sync.Mutex
	steps []answer[T]
	calls []api.QueryOptions
	ended chan struct{} // closed at the first query past the list
}

func newScript[T any](steps ...answer[T]) *script[T] {
	return &script[T]{steps: steps, ended: make(chan struct{})}
}

func (s *script[T]) answer(q *api.QueryOptions) (T, *api.QueryMeta, error) {
	var zero T
	s.mu.Lock()
	s.calls = append(s.calls, *q)
	n := len(s.calls)
	past := n > len(s.steps)
	var st answer[T]
	if !past {
		st = s.steps[n-1]
	} else if n == len(s.steps)+1 {
		close(s.ended)
	}
	s.mu.Unlock()
	ctx := q.Context()
	if past {
		<-ctx.Done()
		return zero, nil, ctx.Err()
	}
	if st.gate != nil {
		select {
		case <-st.gate:
		case <-ctx.Done():
			return zero, nil, ctx.Err()
		}
	}
	if st.err != nil {
		return zero, nil, st.err
	}
	return st.val, &api.QueryMeta{LastIndex: st.index}, nil
}

func (s *script[T]) waitIndexes() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, len(s.calls))
	for i, q := range s.calls {
		out[i] = q.WaitIndex
	}
	return out
}

func (s *script[T]) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// fakeAgent is a scripted Agent and Intentions.
type fakeAgent struct {
	leaf       *script[*api.LeafCert]
	roots      *script[*api.CARootList]
	intentions *script[map[string][]*api.Intention]

	mu        sync.Mutex
	leafNames []string
	authCalls []api.AgentAuthorizeParams
	matchArgs []api.IntentionMatch
	// authorize answers ConnectAuthorize; nil allows with the ACL default.
	authorize func(n int, p *api.AgentAuthorizeParams) (*api.AgentAuthorize, error)
}

var (
	_ Agent      = (*fakeAgent)(nil)
	_ Intentions = (*fakeAgent)(nil)
)

func (f *fakeAgent) ConnectCALeaf(service string, q *api.QueryOptions) (*api.LeafCert, *api.QueryMeta, error) {
	f.mu.Lock()
	f.leafNames = append(f.leafNames, service)
	f.mu.Unlock()
	return f.leaf.answer(q)
}

func (f *fakeAgent) ConnectCARoots(q *api.QueryOptions) (*api.CARootList, *api.QueryMeta, error) {
	return f.roots.answer(q)
}

func (f *fakeAgent) IntentionMatch(args *api.IntentionMatch, q *api.QueryOptions) (map[string][]*api.Intention, *api.QueryMeta, error) {
	f.mu.Lock()
	f.matchArgs = append(f.matchArgs, *args)
	f.mu.Unlock()
	return f.intentions.answer(q)
}

func (f *fakeAgent) ConnectAuthorize(p *api.AgentAuthorizeParams) (*api.AgentAuthorize, error) {
	f.mu.Lock()
	f.authCalls = append(f.authCalls, *p)
	n := len(f.authCalls)
	fn := f.authorize
	f.mu.Unlock()
	if fn == nil {
		return &api.AgentAuthorize{Authorized: true, Reason: "Default behavior configured by ACLs"}, nil
	}
	return fn(n, p)
}

func (f *fakeAgent) authorizeCalls() []api.AgentAuthorizeParams {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.AgentAuthorizeParams(nil), f.authCalls...)
}

// staticAgent answers one leaf, one root list and no intentions, then
// nothing changes.
func staticAgent(leaf *api.LeafCert, roots *api.CARootList) *fakeAgent {
	return &fakeAgent{
		leaf:       newScript(answer[*api.LeafCert]{index: 10, val: leaf}),
		roots:      newScript(answer[*api.CARootList]{index: 5, val: roots}),
		intentions: newScript(answer[map[string][]*api.Intention]{index: 7, val: map[string][]*api.Intention{}}),
	}
}

// recorder is an Options.Sleep that records and never sleeps, and a fixed
// clock: each test's timing is exact.
type recorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) bool {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.mu.Unlock()
	return ctx.Err() == nil
}

// backoffs are the recorded sleeps other than the 100 ms pacing and probe
// intervals.
func (r *recorder) backoffs() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, d := range r.sleeps {
		if d != minQueryInterval && d != probeInterval {
			out = append(out, d)
		}
	}
	return out
}

// logLines collects the messages a Manager logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if s == msg {
			n++
		}
	}
	return n
}

// testNow is the fixed clock of the unit tests (the test certificates are
// valid around it).
var testNow = time.Now()

// run starts m.Run and registers a cleanup that stops it and waits.
func run(t *testing.T, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// newTestManager is a Manager of service over agent with the recorder's
// sleep, a fixed clock, the most jitter and a log of its lines.
func newTestManager(service string, agent *fakeAgent) (*Manager, *recorder, *logLines) {
	rec, log := &recorder{}, &logLines{}
	m := New(agent, agent, Options{
		Service: service, WaitTime: 5 * time.Minute, Logger: slog.New(log),
		Now: func() time.Time { return testNow }, Sleep: rec.sleep,
		Rand: func(n int64) int64 { return n - 1 },
	})
	return m, rec, log
}

// startReady runs a Manager of service over agent and waits for Ready.
func startReady(t *testing.T, service string, agent *fakeAgent) *Manager {
	t.Helper()
	m, _, _ := newTestManager(service, agent)
	run(t, m)
	waitReady(t, m)
	return m
}

func waitReady(t *testing.T, m *Manager) {
	t.Helper()
	select {
	case <-m.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the Manager was not ready within 5s")
	}
}

// eventually polls cond every 5 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// testCA is a CA like Consul's built-in one: an ECDSA root with the trust
// domain as its URI SAN, signing leaves with SPIFFE URIs.
type testCA struct {
	id, trustDomain string
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
	pem             string
	serial          int64
}

func newTestCA(t *testing.T, id, trustDomain string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test CA " + id},
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              testNow.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          []byte(id),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{id: id, trustDomain: trustDomain, cert: cert, key: key, pem: pemOf("CERTIFICATE", der), serial: 100}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// leaf issues a leaf for service in dc of the CA's trust domain, as the
// agent's leaf endpoint returns it.
func (ca *testCA) leaf(t *testing.T, dc, service string) *api.LeafCert {
	t.Helper()
	return ca.leafURI(t, ServiceSpiffeID(ca.trustDomain, dc, service), service)
}

func (ca *testCA) leafURI(t *testing.T, uri, service string, extra ...string) *api.LeafCert {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: service},
		URIs:         []*url.URL{u},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(3 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &api.LeafCert{
		SerialNumber:  colonHex(big.NewInt(ca.serial)),
		CertPEM:       pemOf("CERTIFICATE", der) + strings.Join(extra, ""),
		PrivateKeyPEM: pemOf("EC PRIVATE KEY", keyDER),
		Service:       service, ServiceURI: uri,
	}
}

// crossSignedBy is this CA's certificate signed by other: what Consul
// appends to new leaves after a rotation, so that peers still trusting
// only the old root verify them.
func (ca *testCA) crossSignedBy(t *testing.T, other *testCA) string {
	t.Helper()
	tmpl := *ca.cert
	tmpl.SerialNumber = big.NewInt(2)
	tmpl.AuthorityKeyId = other.cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, other.cert, &ca.key.PublicKey, other.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der)
}

// rootList lists cas as the agent's roots endpoint does, the first active.
func rootList(cas ...*testCA) *api.CARootList {
	l := &api.CARootList{ActiveRootID: cas[0].id, TrustDomain: cas[0].trustDomain}
	for i, ca := range cas {
		l.Roots = append(l.Roots, &api.CARoot{ID: ca.id, Name: "Test CA " + ca.id, RootCertPEM: ca.pem, Active: i == 0})
	}
	return l
}

func (ca *testCA) String() string { return fmt.Sprintf("CA %s", ca.id) }
