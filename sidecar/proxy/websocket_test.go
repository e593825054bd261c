package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func wsEcho(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestWebSocketEcho(t *testing.T) {
	url, up := front(t, 100*time.Millisecond, wsEcho(t))
	ws, err := websocket.Dial("ws"+strings.TrimPrefix(url, "http")+"/echo", "", url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ep := up.Snapshot().Members[0].Endpoint
	for i := range 1000 {
		msg := fmt.Sprintf("message %d", i)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
		if i == 0 && ep.Active() != 1 {
			t.Fatalf("an open WebSocket must count as active for least_conn: %d", ep.Active())
		}
		if i == 500 {
			// Let the 100 ms request timeout pass: it bounds the handshake,
			// not the upgraded connection. (Time passing is the point here.)
			time.Sleep(250 * time.Millisecond)
		}
	}
}

func TestUpgradeH2CIsDropped(t *testing.T) {
	var got http.Header
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
	url, _ := front(t, time.Second, addr)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || got.Get("Upgrade") != "" || got.Get("Http2-Settings") != "" || got.Get("Connection") != "" {
		t.Fatalf("status %d, backend saw %v", resp.StatusCode, got)
	}
}

func TestCloseUpgradedEndsRelays(t *testing.T) {
	cfg := config.DefaultUpstream()
	cfg.Name = "payments"
	url, up, h := frontHandler(t, cfg, Options{}, wsEcho(t))
	ws, err := websocket.Dial("ws"+strings.TrimPrefix(url, "http")+"/", "", url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	websocket.Message.Send(ws, "hi")
	var got string
	websocket.Message.Receive(ws, &got)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.CloseUpgraded(ctx)
	if ctx.Err() != nil {
		t.Fatal("relays did not end")
	}
	if err := websocket.Message.Receive(ws, &got); err == nil {
		t.Fatal("the client connection is still open")
	}
	if ep := up.Snapshot().Members[0].Endpoint; ep.Active() != 0 || ep.Requests() != 1 {
		t.Fatalf("after close: active %d requests %d", ep.Active(), ep.Requests())
	}
}
