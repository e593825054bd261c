package h2c

import (
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func TestTransportSettings(t *testing.T) {
	cfg := config.Upstream{Name: "grpc", ConnectTimeout: time.Second, IdleTimeout: time.Minute, MaxIdlePerEndpoint: 8}
	tr := NewTransport(cfg, 0, nil)
	if !tr.Protocols.UnencryptedHTTP2() || tr.Protocols.HTTP1() || tr.Protocols.HTTP2() {
		t.Fatalf("protocols %v", tr.Protocols)
	}
	if tr.HTTP2.SendPingTimeout != h2PingAfter || tr.HTTP2.PingTimeout != h2PingTimeout || tr.IdleConnTimeout != cfg.IdleTimeout {
		t.Fatalf("ping %v/%v idle %v", tr.HTTP2.SendPingTimeout, tr.HTTP2.PingTimeout, tr.IdleConnTimeout)
	}
	if tr.DisableKeepAlives || tr.Proxy != nil || !tr.DisableCompression {
		t.Fatal("keep-alives, proxy or compression set wrong")
	}
	cfg.MaxIdlePerEndpoint = 0
	if !NewTransport(cfg, 0, nil).DisableKeepAlives {
		t.Fatal("max_idle_per_endpoint 0 should make connections single-use")
	}
}

func TestClassifyHead(t *testing.T) {
	long := "GET /" + strings.Repeat("a", h1MaxLine)
	cases := []struct {
		in    string
		http1 bool
		kind  sniffKind
		ok    bool
	}{
		{h2Preface, true, sniffH2, true},
		{h2Preface + "\x00\x00", false, sniffH2, true},
		{"PRI * HTTP/2.0\r\n", true, sniffH2, false},
		{"P", true, sniffH2, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, sniffH1, true},
		{"POST /x HTTP/1.0\n", true, sniffH1, true},
		{"\r\nGET / HTTP/1.1\r\n", true, sniffH1, true},
		{"GET / HTTP/1.1", true, sniffH1, false},
		{"PUT", true, sniffH1, false},
		{long, true, sniffH1, true},
		{"INVALID CONNECTION PREFACE\r\n\r\n", true, sniffClose, true},
		{"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", true, sniffClose, true},
		{"GET / HTTP/2.0\r\n", true, sniffClose, true},
		{"GET /\r\n", true, sniffClose, true},
		{"GET / HTTP/1.1\r\n", false, sniffClose, true},
	}
	for _, c := range cases {
		kind, ok := classifyHead([]byte(c.in), c.http1)
		if kind != c.kind || ok != c.ok {
			name := c.in
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("%q (http1 %v): got %v %v, want %v %v", name, c.http1, kind, ok, c.kind, c.ok)
		}
	}
}
