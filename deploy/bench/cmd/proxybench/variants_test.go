package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseVariant(t *testing.T) {
	for _, tc := range []struct {
		id    string
		base  string
		conns int
		big   bool
		err   bool
	}{
		{"outrigger", "outrigger", 0, false, false},
		{"outrigger-routing", "outrigger-routing", 0, false, false},
		{"outrigger@64", "outrigger", 64, false, false},
		{"haproxy-64k", "haproxy", 0, true, false},
		{"nginx-64k@64", "nginx", 64, true, false},
		{"haproxy-mtls@64", "haproxy-mtls", 64, false, false},
		{"direct@64", "direct", 64, false, false},
		{"outrigger@0", "", 0, false, true},
		{"outrigger@x", "", 0, false, true},
		{"outrigger-accesslog@64", "", 0, false, true}, // its checks read one process
		{"outrigger-routing-64k", "", 0, false, true},
	} {
		base, conns, big, err := parseVariant(tc.id)
		if (err != nil) != tc.err || base != tc.base || conns != tc.conns || big != tc.big {
			t.Errorf("parseVariant(%q) = %q, %d, %v, %v; want %q, %d, %v, error %v", tc.id, base, conns, big, err, tc.base, tc.conns, tc.big, tc.err)
		}
	}
}

func TestParseFlagsTargets(t *testing.T) {
	o, err := parseFlags([]string{"-targets", "outrigger,outrigger@64,haproxy-64k,outrigger", "-baseline", "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	// Each group's direct is added, and the baseline build beside every
	// Outrigger variant.
	want := []string{"direct", "outrigger", "outrigger-baseline", "outrigger@64", "outrigger-baseline@64", "haproxy-64k", "direct@64", "direct-64k"}
	if !slices.Equal(o.Targets, want) {
		t.Errorf("targets %v, want %v", o.Targets, want)
	}
	if _, err := parseFlags([]string{"-targets", "squid@64"}); err == nil {
		t.Error("an unknown base with a variant was taken")
	}
	// The default run has the 64-connection and 64 KiB groups, each with
	// its direct and HAProxy references.
	o, err = parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"direct@64", "outrigger@64", "haproxy@64", "direct-64k", "outrigger-64k", "haproxy-64k", "nginx-64k", "haproxy-mtls"} {
		if !slices.Contains(o.Targets, id) {
			t.Errorf("default targets lack %s", id)
		}
	}
}

// The raw backend answers bigPath with 64 KiB and anything else with
// 1 KiB, on one keep-alive connection.
func TestBackendBodies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		_ = serveRaw(ln, newRawResponses(make([]byte, BodySize)), newRawResponses(make([]byte, BigSize)))
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		path string
		want int
	}{{"/", BodySize}, {bigPath, BigSize}, {bigPath + "?x=1", BigSize}, {"/other", BodySize}} {
		if _, err := io.WriteString(c, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(b) != tc.want {
			t.Errorf("GET %s: %d, %d bytes, %v; want 200, %d", tc.path, resp.StatusCode, len(b), err, tc.want)
		}
	}
}

func TestTargetURLAndLabels(t *testing.T) {
	e := benchEnv{Backend: "127.0.0.1:1", WorkDir: t.TempDir(), ProxyCPU: "1", HAProxy: "haproxy"}
	x, err := newTarget("haproxy-64k@64", e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(x.URL(), bigPath) || x.Label != "HAProxy, 64 KiB, 64 connections" || x.conns(options{Conns: 16}) != 64 || x.bodySize() != BigSize {
		t.Errorf("haproxy-64k@64: URL %s, label %q, conns %d, body %d", x.URL(), x.Label, x.conns(options{Conns: 16}), x.bodySize())
	}
	d, err := newTarget("direct@64", e)
	if err != nil {
		t.Fatal(err)
	}
	if d.isProxy() || d.URL() != "http://127.0.0.1:1/" {
		t.Errorf("direct@64: proxy %v, URL %s", d.isProxy(), d.URL())
	}
}
