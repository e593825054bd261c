package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// isWebSocket reports whether r asks to switch to WebSocket (RFC 6455
// §4.1): `Connection` lists `upgrade` and `Upgrade` is `websocket`. Other
// upgrades (h2c above all, golang/go#80416) are not honoured: Upgrade is
// hop-by-hop, so the request goes on as plain HTTP/1.1 without it.
func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header["Connection"], "upgrade") &&
		headerHasToken(r.Header["Upgrade"], "websocket")
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// upgradedConns are the WebSocket connections a handler is relaying. The
// HTTP server forgets a connection once it is hijacked, so the handler
// tracks them itself, to close them at the end of a drain. Only upgrades
// touch the mutex, never ordinary requests.
type upgradedConns struct {
	mu    sync.Mutex
	conns map[io.Closer]struct{}
	wg    sync.WaitGroup
}

func (u *upgradedConns) add(c ...io.Closer) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conns == nil {
		u.conns = map[io.Closer]struct{}{}
	}
	for _, x := range c {
		u.conns[x] = struct{}{}
	}
	u.wg.Add(1)
}

func (u *upgradedConns) remove(c ...io.Closer) {
	u.mu.Lock()
	for _, x := range c {
		delete(u.conns, x)
	}
	u.mu.Unlock()
	u.wg.Done()
}

// CloseUpgraded closes every relayed WebSocket connection and waits until
// their relays have finished (or ctx ends). The sidecar calls it once the
// ordinary requests of a drain are done.
func (h *Handler) CloseUpgraded(ctx context.Context) {
	h.upgraded.mu.Lock()
	for c := range h.upgraded.conns {
		c.Close()
	}
	h.upgraded.mu.Unlock()
	done := make(chan struct{})
	go func() { h.upgraded.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// serveWebSocket relays a WebSocket: the handshake goes to one endpoint
// (no retries: a handshake is cheap to redo for the client, and an
// endpoint's 101 commits it), then bytes flow both ways until either side
// closes. The endpoint's lease — its active count for least_conn — is held
// for the life of the connection.
func (h *Handler) serveWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	breakDone, ok := h.up.Breaker().Allow()
	if !ok {
		h.localReply(ctx, w, localreply.CircuitOpen, 503, "upstream "+h.up.Name()+" is failing; its circuit breaker is open")
		return
	}
	lease, ok := h.up.Pick(clientKey(r), nil)
	if !ok {
		breakDone(breaker.Excluded)
		h.localReply(ctx, w, localreply.NoHealthyUpstream, 503, "upstream "+h.up.Name()+" has no endpoint to send to")
		return
	}
	// The handshake is bounded by timeout; the connection after it is not
	// (it lives as long as both sides want), so the request context's
	// deadline must not reach the upgraded connection.
	hsCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if h.timeout > 0 {
		t := time.AfterFunc(h.timeout, cancel)
		defer t.Stop()
	}
	out := outbound(hsCtx, h.tr, r, lease.Endpoint().Address, http.NoBody)
	out.Header["Connection"] = []string{"Upgrade"}
	out.Header["Upgrade"] = r.Header["Upgrade"]
	resp, err := h.transport.RoundTrip(out)
	if err != nil {
		ae := classify(r.Context(), hsCtx, err)
		if ae.clientGone {
			lease.Done(statusClientClosed, outlier.Ignored)
			breakDone(breaker.Excluded)
			return
		}
		lease.Done(ae.reason.Status(), outlier.LocalFailure)
		breakDone(breaker.Failure)
		h.localReply(ctx, w, ae.reason, ae.reason.Status(), err.Error())
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// Refused (403, 400, ...): pass the answer on as it is.
		a := attempt{lease: lease, breakDone: breakDone, resp: resp, status: resp.StatusCode}
		h.respond(ctx, w, r, &a, false)
		return
	}
	back, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		lease.Done(502, outlier.LocalFailure)
		breakDone(breaker.Failure)
		h.localReply(ctx, w, localreply.UpstreamReset, 502, "the endpoint's 101 response is not writable")
		return
	}
	breakDone(nil)
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		back.Close()
		lease.Done(statusClientClosed, outlier.Ignored)
		return
	}
	h.upgraded.add(client, back)
	defer h.upgraded.remove(client, back)
	noteResponse(ctx, http.StatusSwitchingProtocols, false)

	if err := writeSwitching(brw.Writer, resp.Header); err != nil {
		client.Close()
		back.Close()
		lease.Done(statusClientClosed, outlier.Ignored)
		return
	}
	relay(client, brw.Reader, back)
	lease.Done(http.StatusSwitchingProtocols, outlier.Success)
}

// writeSwitching sends the endpoint's 101 to the client: its headers as
// they are, Upgrade and Connection included (they carry the switch).
func writeSwitching(w *bufio.Writer, hdr http.Header) error {
	if _, err := w.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return err
	}
	if err := hdr.Write(w); err != nil {
		return err
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	return w.Flush()
}

// relay copies both ways until either side is done, then closes both.
// clientBuf holds any bytes the client sent right after its handshake.
func relay(client net.Conn, clientBuf *bufio.Reader, back io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(back, clientBuf)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, back)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	back.Close()
	<-done
}
