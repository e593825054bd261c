package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func loadCA(t *testing.T, path string) (*x509.CertPool, *x509.Certificate) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", path)
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, ca
}

// loadPair reads a file as HAProxy's crt does: the certificate, then its key.
func loadPair(t *testing.T, path string) tls.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(b, b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestWriteCerts(t *testing.T) {
	now := time.Now()
	f, err := writeCerts(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	pool, ca := loadCA(t, f.CA)
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("the CA is not a CA: IsCA %v, key usage %v", ca.IsCA, ca.KeyUsage)
	}
	server, client := loadPair(t, f.ServerPEM), loadPair(t, f.ClientPEM)
	for name, c := range map[string]tls.Certificate{"server": server, "client": client} {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for what, pub := range map[string]any{"CA": ca.PublicKey, name: leaf.PublicKey} {
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok || k.Curve != elliptic.P256() {
				t.Errorf("%s key: %T, want ECDSA P-256", what, pub)
			}
		}
		if leaf.NotBefore.After(now) || leaf.NotAfter.Before(now.Add(time.Hour)) {
			t.Errorf("%s: valid %v to %v, not around %v", name, leaf.NotBefore, leaf.NotAfter, now)
		}
	}
	for _, s := range []string{f.CA, f.ServerPEM, f.ClientPEM} {
		if fi, err := os.Stat(s); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", s, fi.Mode(), err)
		}
	}

	// What haproxy-mtls needs of them: a handshake where the server
	// requires and verifies the client's certificate and the client checks
	// the server's name; and none without a client certificate, or with
	// the server's (not for client auth).
	for _, tc := range []struct {
		name    string
		certs   []tls.Certificate
		wantErr bool
	}{
		{"client certificate", []tls.Certificate{client}, false},
		{"no client certificate", nil, true},
		{"server's certificate as a client's", []tls.Certificate{server}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, &tls.Config{Certificates: []tls.Certificate{server}, ClientCAs: pool,
				ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
				&tls.Config{Certificates: tc.certs, RootCAs: pool, ServerName: mtlsServerName, MinVersion: tls.VersionTLS13})
			if (err != nil) != tc.wantErr {
				t.Errorf("handshake: %v, want error %v", err, tc.wantErr)
			}
		})
	}
	// The client checks the name: another one fails.
	err = handshake(t, &tls.Config{Certificates: []tls.Certificate{server}},
		&tls.Config{Certificates: []tls.Certificate{client}, RootCAs: pool, ServerName: "other.bench.internal"})
	if err == nil {
		t.Error("handshake with the wrong server name succeeded")
	}
}

// handshake runs one TLS 1.3 handshake over loopback and a one-byte
// exchange (in TLS 1.3 the server's verdict on the client certificate
// reaches the client with its first read), and returns the client's
// error or the server's.
func handshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte{'x'})
		done <- err
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), cli)
	if err != nil {
		<-done
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	_, rerr := io.ReadFull(c, b)
	return errors.Join(rerr, <-done)
}
