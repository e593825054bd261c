package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// leafState is the parsed leaf certificate the leaf watch holds.
type leafState struct {
	certPEM, keyPEM string // as Consul sent them, to drop identical answers
	cert            *tls.Certificate
	id              spiffeID
	spiffeID        string
	serial          string
	notAfter        time.Time
}

// rootsState is the parsed root list the roots watch holds.
type rootsState struct {
	key         string // everything that makes two lists differ
	pool        *x509.CertPool
	count       int
	trustDomain string
	activeID    string
}

// leafQuery is the leaf watch's blocking query:
// /v1/agent/connect/ca/leaf/<service>. The agent answers a blocking query
// when the leaf is renewed (about 60–90% into its TTL) or, after a CA
// rotation, re-signed by the new root (within a random 0–30 s).
func (m *Manager) leafQuery(q *api.QueryOptions) (*api.QueryMeta, func() error, error) {
	leaf, meta, err := m.agent.ConnectCALeaf(m.opts.Service, q)
	if err != nil {
		return nil, nil, err
	}
	return meta, func() error { return m.setLeaf(leaf) }, nil
}

// rootsQuery is the roots watch's blocking query: /v1/agent/connect/ca/roots.
func (m *Manager) rootsQuery(q *api.QueryOptions) (*api.QueryMeta, func() error, error) {
	roots, meta, err := m.agent.ConnectCARoots(q)
	if err != nil {
		return nil, nil, err
	}
	return meta, func() error { return m.setRoots(roots) }, nil
}

// setLeaf publishes a new leaf; an identical one changes nothing.
func (m *Manager) setLeaf(l *api.LeafCert) error {
	if l == nil {
		return errors.New("consul answered without a leaf certificate")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.leaf; old != nil && old.certPEM == l.CertPEM && old.keyPEM == l.PrivateKeyPEM {
		return nil
	}
	st, err := parseLeaf(l, m.opts.Service)
	if err != nil {
		return err
	}
	msg := "connect leaf certificate rotated"
	if m.leaf == nil {
		msg = "connect leaf certificate loaded"
	}
	m.leaf = st
	m.publishIdentityLocked()
	m.log.Info(msg, "serial", st.serial, "not_after", st.notAfter.UTC().Format(time.RFC3339), "spiffe_id", st.spiffeID)
	return nil
}

// setRoots publishes a new root list; an identical one changes nothing.
func (m *Manager) setRoots(l *api.CARootList) error {
	if l == nil {
		return errors.New("consul answered without CA roots")
	}
	st, err := parseRoots(l)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.roots; old != nil && old.key == st.key {
		return nil
	}
	msg := "connect CA roots changed"
	if m.roots == nil {
		msg = "connect CA roots loaded"
	}
	m.roots = st
	m.publishIdentityLocked()
	m.log.Info(msg, "roots", st.count, "active_root_id", st.activeID, "trust_domain", st.trustDomain)
	return nil
}

// parseLeaf checks and parses a leaf for service: its key must match, and
// its URI SAN must be the SPIFFE ID of service.
func parseLeaf(l *api.LeafCert, service string) (*leafState, error) {
	cert, err := tls.X509KeyPair([]byte(l.CertPEM), []byte(l.PrivateKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("leaf certificate of %q: %w", service, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("leaf certificate of %q: %w", service, err)
		}
	}
	uris := uriSANs(cert.Leaf)
	if len(uris) != 1 {
		return nil, fmt.Errorf("leaf certificate of %q: want one SPIFFE URI SAN, got %q", service, uris)
	}
	id, ok := parseSPIFFE(cert.Leaf.URIs[0])
	if !ok || id.service != service {
		return nil, fmt.Errorf("leaf certificate of %q: its URI SAN %s is not that service's SPIFFE ID", service, uris[0])
	}
	serial := l.SerialNumber
	if serial == "" {
		serial = colonHex(cert.Leaf.SerialNumber)
	}
	return &leafState{
		certPEM: l.CertPEM, keyPEM: l.PrivateKeyPEM, cert: &cert,
		id: id, spiffeID: uris[0], serial: serial, notAfter: cert.Leaf.NotAfter,
	}, nil
}

// parseRoots builds the trust pool of every root Consul lists, active or
// not (an inactive root still verifies the leaves it signed until they are
// renewed after a rotation).
//
// The roots' IntermediateCerts are not in api.CARoot (v1.34.5) and are not
// needed: they are the cross-signed certificates Consul appends to the
// leaves it signs (CertPEM), so a peer sends them in its handshake, where
// VerifyConnection takes them as intermediates. A trust pool holds roots only.
func parseRoots(l *api.CARootList) (*rootsState, error) {
	if l.TrustDomain == "" {
		return nil, errors.New("consul's CA roots name no trust domain (is Connect enabled?)")
	}
	pool := x509.NewCertPool()
	var key strings.Builder
	fmt.Fprintf(&key, "%s\x00%s", l.TrustDomain, l.ActiveRootID)
	n := 0
	for _, r := range l.Roots {
		if r == nil {
			continue
		}
		if !pool.AppendCertsFromPEM([]byte(r.RootCertPEM)) {
			return nil, fmt.Errorf("CA root %s: no certificate in its PEM", r.ID)
		}
		fmt.Fprintf(&key, "\x00%s\x00%s", r.ID, r.RootCertPEM)
		n++
	}
	if n == 0 {
		return nil, errors.New("consul listed no CA root")
	}
	return &rootsState{key: key.String(), pool: pool, count: n, trustDomain: l.TrustDomain, activeID: l.ActiveRootID}, nil
}

// colonHex formats a serial as Consul does: hex bytes separated by ":".
func colonHex(n *big.Int) string {
	b := n.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}
