package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The haproxy-mtls target's certificates: a CA and two leaves, all ECDSA
// P-256 like the Consul Connect ones outrigger-mtls uses, made afresh by
// every run (nothing to ship, nothing that expires in the tree).
const (
	mtlsServerName = "payments.bench.internal" // the second HAProxy's name, checked by the first
	mtlsClientName = "web.bench.internal"
)

// certFiles are the PEM files in the work dir. ServerPEM and ClientPEM
// hold the certificate and then its key, as HAProxy's crt wants them.
type certFiles struct {
	CA, ServerPEM, ClientPEM string
}

// writeCerts makes the CA and the leaves and writes them into dir.
func writeCerts(dir string, now time.Time) (*certFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "proxybench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			DNSNames:     []string{name},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...), nil
	}
	server, err := leaf(2, mtlsServerName, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	client, err := leaf(3, mtlsClientName, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	f := &certFiles{
		CA:        filepath.Join(dir, "mtls-ca.pem"),
		ServerPEM: filepath.Join(dir, "mtls-server.pem"),
		ClientPEM: filepath.Join(dir, "mtls-client.pem"),
	}
	for path, b := range map[string][]byte{
		f.CA:        pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		f.ServerPEM: server,
		f.ClientPEM: client,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("certificates: %w", err)
		}
	}
	return f, nil
}
