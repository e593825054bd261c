package connect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// BenchmarkMeshHandshake is the cost of opening one mesh connection: a
// TCP connection on loopback and a full mutual-TLS handshake between the
// configs the sidecars use (web's ClientTLS for payments, payments'
// ServerTLS), with leaves like those of Consul's built-in CA (ECDSA P-256,
// SPIFFE URI SANs, signed by a P-256 root). Both sides run in this process,
// so cpu-µs/op is what a handshake costs client and server together
// (process CPU time over the loop, from getrusage); "tcp" is the same loop
// without TLS, to subtract. No session resumption, as in the sidecar.
func BenchmarkMeshHandshake(b *testing.B) {
	ca := newBenchCA(b)
	trustDomain := "11111111-2222-3333-4444-555555555555.consul"
	web := benchManager(b, "web", ca, trustDomain)
	pay := benchManager(b, "payments", ca, trustDomain)
	client := web.ClientTLS("payments", "", []string{"http/1.1"})
	server := pay.ServerTLS(nil)

	b.Run("tcp", func(b *testing.B) { benchConnect(b, nil, nil) })
	b.Run("mtls", func(b *testing.B) { benchConnect(b, client, server) })
	// The same with X25519 alone as the key exchange, instead of Go's
	// default first choice, the hybrid post-quantum X25519MLKEM768: what
	// the ML-KEM half costs.
	c, s := client.Clone(), server.Clone()
	c.CurvePreferences, s.CurvePreferences = []tls.CurveID{tls.X25519}, []tls.CurveID{tls.X25519}
	b.Run("mtls-x25519", func(b *testing.B) { benchConnect(b, c, s) })
}

// benchConnect opens b.N connections to a loopback listener, with a full
// handshake on each when the configs are set: the server side of every
// handshake (and a one-byte read, so it has finished) runs in the
// listener's goroutine, and the client waits for it.
func benchConnect(b *testing.B, client, server *tls.Config) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if server != nil {
				c = tls.Server(c, server)
			}
			_, err = c.Read(buf) // the handshake, then the client's byte
			c.Close()
			done <- err
		}
	}()
	addr := ln.Addr().String()
	b.ReportAllocs()
	logged := false
	cpu0, t0 := cpuTime(), time.Now()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if client != nil {
			tc := tls.Client(c, client)
			if err := tc.Handshake(); err != nil {
				b.Fatal(err)
			}
			if st := tc.ConnectionState(); st.Version != tls.VersionTLS13 || len(st.PeerCertificates) == 0 {
				b.Fatalf("negotiated %s with %d peer certificates, want TLS 1.3 and payments' leaf",
					tls.VersionName(st.Version), len(st.PeerCertificates))
			} else if !logged {
				b.Logf("%s, key exchange %s", tls.VersionName(st.Version), st.CurveID)
				logged = true
			}
			c = tc
		}
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conn/s")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCA is a P-256 root like the one Consul's built-in CA makes.
type benchCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	n    int64
}

func newBenchCA(b *testing.B) *benchCA {
	key := benchKey(b)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, SubjectKeyId: []byte("bench-root"),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &benchCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), n: 1}
}

func benchKey(b *testing.B) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return key
}

// benchManager is a running Manager of service whose agent answers a leaf
// of ca (as Consul's leaf endpoint does) and ca as the one root.
func benchManager(b *testing.B, service string, ca *benchCA, trustDomain string) *Manager {
	uri := ServiceSpiffeID(trustDomain, "dc1", service)
	u, _ := url.Parse(uri)
	key := benchKey(b)
	ca.n++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: service}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(3 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	leaf := &api.LeafCert{
		SerialNumber:  colonHex(big.NewInt(ca.n)),
		CertPEM:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		Service:       service, ServiceURI: uri,
	}
	roots := &api.CARootList{ActiveRootID: "bench-root", TrustDomain: trustDomain,
		Roots: []*api.CARoot{{ID: "bench-root", Name: "Bench CA", RootCertPEM: ca.pem, Active: true}}}
	m := New(staticAgent(leaf, roots), staticAgent(leaf, roots), Options{Service: service})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); m.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-stopped })
	select {
	case <-m.Ready():
	case <-time.After(5 * time.Second):
		b.Fatal("the Manager was not ready within 5s")
	}
	return m
}
