package connect

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// errNoIdentity fails a handshake attempted before the leaf and the roots
// are known.
var errNoIdentity = errors.New("connect: no leaf certificate and CA roots from Consul yet")

// ClientTLS is the tls.Config for dialing a mesh peer of service (in
// datacenter dc; "" = the local one): TLS 1.2+, the current leaf as client
// certificate, the peer verified against the current roots only, and its
// URI SAN must be exactly spiffe://<trust-domain>/ns/default/dc/<dc>/svc/<service>.
//
// Everything is read from the Identity in force at each handshake, so one
// config serves across leaf and root rotations; connections already
// established are unaffected by a rotation. The caller may Clone it (e.g.
// to set ServerName, which is only sent as SNI: it is not verified).
func (m *Manager) ClientTLS(service, dc string, nextProtos []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: slices.Clone(nextProtos),
		// The standard verification would use a fixed pool and a DNS name;
		// VerifyConnection does the chain against the current roots and
		// checks the SPIFFE ID instead. It also runs on resumed sessions.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			id := m.ident.Load()
			if id == nil {
				return nil, errNoIdentity
			}
			if m.opts.Now().After(id.NotAfter) {
				// Consul has been unreachable for the leaf's whole life:
				// peers would refuse it; this sidecar's fault, not theirs.
				return nil, fmt.Errorf("connect: the leaf certificate expired at %s and Consul has issued no new one", id.NotAfter.UTC().Format(time.RFC3339))
			}
			return id.Leaf, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id := m.ident.Load()
			if id == nil {
				return errNoIdentity
			}
			if err := m.verifyChain(id, cs.PeerCertificates, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			want := ServiceSpiffeID(id.TrustDomain, cmp.Or(dc, id.Datacenter), service)
			got := uriSANs(cs.PeerCertificates[0])
			if len(got) != 1 || got[0] != want {
				gotText := "no URI SAN"
				if len(got) > 0 {
					gotText = strings.Join(got, ", ")
				}
				return fmt.Errorf("connect: peer identity mismatch: expected %s, got %s", want, gotText)
			}
			return nil
		},
	}
}

// ServerTLS is the inbound tls.Config: the current leaf, a client
// certificate required and verified against the current roots (a chain
// that does not verify fails the handshake), TLS 1.2+.
//
// Which service may call is not decided here: after the handshake,
// SourceService names the caller and Allowed decides (a verified
// certificate without a service SPIFFE ID, such as a Consul agent's, has
// no source and is the caller's to refuse).
func (m *Manager) ServerTLS(nextProtos []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: slices.Clone(nextProtos),
		// RequireAndVerifyClientCert would verify against a ClientCAs pool
		// fixed in this config; VerifyConnection uses the current roots.
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			id := m.ident.Load()
			if id == nil {
				return nil, errNoIdentity
			}
			return id.Leaf, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id := m.ident.Load()
			if id == nil {
				return errNoIdentity
			}
			return m.verifyChain(id, cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
		},
	}
}

// verifyChain verifies the peer's leaf against id's roots, with the rest
// of what the peer sent as intermediates, at the Manager's clock.
func (m *Manager) verifyChain(id *Identity, certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("connect: the peer sent no certificate")
	}
	var inter *x509.CertPool
	if len(certs) > 1 {
		inter = x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: id.Roots, Intermediates: inter, CurrentTime: m.opts.Now(),
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("connect: peer certificate %s (issuer %q) does not verify against the current Consul CA roots (%d of trust domain %s): %w",
			cmp.Or(strings.Join(uriSANs(certs[0]), ","), certs[0].Subject.String()), certs[0].Issuer.String(), id.RootCount, id.TrustDomain, err)
	}
	return nil
}

// SourceService is the service name in a verified peer certificate's
// SPIFFE URI SAN (spiffe://<td>/ns/default/dc/<dc>/svc/<name>), from a
// completed handshake's state. It trusts that the handshake verified the
// chain (ServerTLS and ClientTLS do); it does not verify it again. A
// certificate with no such URI, or one of another namespace or partition
// than "default" (which this sidecar's intentions do not cover), has none.
func SourceService(cs tls.ConnectionState) (string, bool) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	c := cs.PeerCertificates[0]
	if len(c.URIs) != 1 {
		return "", false
	}
	id, ok := parseSPIFFE(c.URIs[0])
	if !ok || id.namespace != "default" || (id.partition != "" && id.partition != "default") {
		return "", false
	}
	return id.service, true
}

// ServiceSpiffeID is the SPIFFE ID Consul gives service's leaves in the
// default namespace of dc.
func ServiceSpiffeID(trustDomain, dc, service string) string {
	return "spiffe://" + trustDomain + "/ns/default/dc/" + dc + "/svc/" + service
}

// spiffeID is a parsed Consul service SPIFFE ID.
type spiffeID struct {
	trustDomain, partition, namespace, datacenter, service string
}

// parseSPIFFE parses a Consul service identity,
// spiffe://<td>[/ap/<partition>]/ns/<ns>/dc/<dc>/svc/<service>; anything
// else (an agent's or a mesh gateway's ID) is not one.
func parseSPIFFE(u *url.URL) (spiffeID, bool) {
	if u == nil || u.Scheme != "spiffe" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return spiffeID{}, false
	}
	// Split the escaped path, then unescape each segment (as Consul
	// does): an escaped "/" inside a segment is part of it, not a
	// separator that could shift "svc" into place.
	seg := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	for i, s := range seg {
		v, err := url.PathUnescape(s)
		if err != nil {
			return spiffeID{}, false
		}
		seg[i] = v
	}
	id := spiffeID{trustDomain: u.Host}
	if len(seg) == 8 && seg[0] == "ap" {
		id.partition, seg = seg[1], seg[2:]
	}
	if len(seg) != 6 || seg[0] != "ns" || seg[2] != "dc" || seg[4] != "svc" {
		return spiffeID{}, false
	}
	id.namespace, id.datacenter, id.service = seg[1], seg[3], seg[5]
	if id.namespace == "" || id.datacenter == "" || id.service == "" {
		return spiffeID{}, false
	}
	return id, true
}

// uriSANs are a certificate's URI SANs as text.
func uriSANs(c *x509.Certificate) []string {
	out := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		out[i] = u.String()
	}
	return out
}
