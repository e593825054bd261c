package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// SIGTERM under a steady load (200 req/s): no request the sidecar accepted
// before the signal fails, later ones are refused (the port is closed),
// and the process exits 0 within drain_timeout.
func TestSigtermUnderLoad(t *testing.T) {
	t.Parallel()
	a := newInstance(t, "a", 20*time.Millisecond)
	b := newInstance(t, "b", 20*time.Millisecond)
	p := startSidecar(t, reloadYAML(fmt.Sprintf("  - name: p\n    listen: 127.0.0.1:0\n    endpoints: [%q, %q]\n", a.addr(), b.addr())))
	url := p.url("p", "/")
	stop := make(chan struct{})
	defer close(stop)
	load := steadyLoad(t, func() []string { return []string{url} }, 200, 2000, stop)
	waitFor(t, 10*time.Second, func() bool { ok, _, _ := load.snapshot(); return ok[url] >= 400 }, "2 s of load")

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within drain_timeout (10s)")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	took := time.Since(start)
	waitFor(t, 5*time.Second, func() bool { _, refused, _ := load.snapshot(); return refused[url] > 0 }, "requests after the signal to be refused")
	ok, refused, failed := load.snapshot()
	if len(failed[url]) > 0 {
		t.Fatalf("%d accepted requests failed (e.g. %q); ok %d refused %d", len(failed[url]), failed[url][0], ok[url], refused[url])
	}
	t.Logf("ok %d, refused after the signal %d, drained and exited in %v", ok[url], refused[url], took)
}

// A WebSocket echo of 1,000 messages through the sidecar, and an
// `Upgrade: h2c` request that reaches the backend without that header.
func TestWebSocketAndH2CUpgradeEndToEnd(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	t.Cleanup(echo.Close)
	var sawUpgrade, sawSettings string
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawUpgrade, sawSettings = r.Header.Get("Upgrade"), r.Header.Get("Http2-Settings")
		io.WriteString(w, "plain")
	}))
	t.Cleanup(plain.Close)
	p := startSidecar(t, reloadYAML(fmt.Sprintf(`  - name: ws
    listen: 127.0.0.1:0
    endpoints: [%q]
  - name: plain
    listen: 127.0.0.1:0
    endpoints: [%q]
`, strings.TrimPrefix(echo.URL, "http://"), strings.TrimPrefix(plain.URL, "http://"))))

	origin := "http://" + p.listen["ws"]
	ws, err := websocket.Dial("ws://"+p.listen["ws"]+"/echo", "", origin)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		msg := fmt.Sprintf("message %d", i)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
	}
	if e := p.endpointView("ws", strings.TrimPrefix(echo.URL, "http://")); e.ActiveRequests != 1 {
		t.Fatalf("an open WebSocket must count as active: %+v", e)
	}
	ws.Close()

	req, _ := http.NewRequest("GET", p.url("plain", "/"), nil)
	req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "plain" || sawUpgrade != "" || sawSettings != "" {
		t.Fatalf("h2c upgrade: %d %q; backend saw Upgrade %q HTTP2-Settings %q", resp.StatusCode, body, sawUpgrade, sawSettings)
	}
}

// SIGTERM closes an open WebSocket at the end of the drain.
func TestDrainClosesWebSockets(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	t.Cleanup(echo.Close)
	p := startSidecar(t, reloadYAML(fmt.Sprintf("  - name: ws\n    listen: 127.0.0.1:0\n    endpoints: [%q]\n", strings.TrimPrefix(echo.URL, "http://"))))
	ws, err := websocket.Dial("ws://"+p.listen["ws"]+"/", "", "http://"+p.listen["ws"])
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if code := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got string
	if err := websocket.Message.Receive(ws, &got); err == nil {
		t.Fatal("the WebSocket outlived the sidecar")
	}
}
