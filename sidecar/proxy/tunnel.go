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

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
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

// Tunnels are the tunnels (WebSocket, CONNECT) being relayed for a
// handler, or for a routing listener's requests. The HTTP server forgets a
// connection once it is hijacked, so they are tracked here, to be closed at
// the end of a drain. Only upgrades touch the mutex, never ordinary
// requests. The zero value is ready.
type Tunnels struct {
	mu     sync.Mutex
	conns  map[io.Closer]struct{}
	closed bool // CloseUpgraded has begun: no more tunnels
	wg     sync.WaitGroup
}

// add registers a tunnel's connections, or reports false once
// CloseUpgraded has begun (the caller then closes them itself): no Add on
// the WaitGroup may race its Wait.
func (u *Tunnels) add(c ...io.Closer) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	if u.conns == nil {
		u.conns = map[io.Closer]struct{}{}
	}
	for _, x := range c {
		u.conns[x] = struct{}{}
	}
	u.wg.Add(1)
	return true
}

func (u *Tunnels) remove(c ...io.Closer) {
	u.mu.Lock()
	for _, x := range c {
		delete(u.conns, x)
	}
	u.mu.Unlock()
	u.wg.Done()
}

// CloseUpgraded closes every relayed tunnel and waits until
// their relays have finished (or ctx ends). The sidecar calls it once the
// ordinary requests of a drain are done.
func (h *Handler) CloseUpgraded(ctx context.Context) { h.upgraded.Close(ctx) }

// Close closes every tunnel and refuses new ones, then waits until their
// relays have finished (or ctx ends).
func (u *Tunnels) Close(ctx context.Context) {
	u.mu.Lock()
	u.closed = true
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// switched reports whether resp hands the connection over: a 101 to a
// WebSocket handshake, a 2xx to a CONNECT.
func switched(r *http.Request, resp *http.Response) bool {
	if r.Method == http.MethodConnect {
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	}
	return resp.StatusCode == http.StatusSwitchingProtocols
}

// relay runs a tunnel the endpoint accepted (a WebSocket's 101, a
// CONNECT's 2xx): the answer's head goes to the client, then bytes flow
// both ways until both sides are done or either breaks. The breaker hears
// of the endpoint's acceptance at once; the endpoint's lease — its active
// count for least_conn — is held for the life of the tunnel. A refused
// handshake (403, 400, ...) never gets here: it is an ordinary answer.
func (h *Handler) relay(ctx context.Context, cs *clientSide, w http.ResponseWriter, a *upstream.Attempt, resp *http.Response) {
	back, ok := resp.Body.(tunnelConn)
	if !ok {
		resp.Body.Close()
		a.End(upstream.Failed(upstream.ProtocolError))
		h.localReply(ctx, cs, w, localreply.UpstreamProtocolError, http.StatusBadGateway, "the endpoint's switch is not a connection")
		return
	}
	a.Settle()
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		back.Close()
		a.End(upstream.Failed(upstream.ClientGone))
		abort() // never the default 200 to a handshake
	}
	if !h.upgraded.add(client, back) { // the listener is draining
		client.Close()
		back.Close()
		a.End(upstream.Failed(upstream.ClientGone))
		return
	}
	defer h.upgraded.remove(client, back)
	if cs.tunnels != nil { // a routing listener's: it closes them when it drains
		if !cs.tunnels.add(client, back) {
			client.Close()
			back.Close()
			a.End(upstream.Failed(upstream.ClientGone))
			return
		}
		defer cs.tunnels.remove(client, back)
	}
	cs.status = resp.StatusCode
	noteResponse(ctx, resp.StatusCode, false)
	if cs.bound > 0 {
		client.SetDeadline(cs.next()) // for the switch's head; relayBoth sets the tunnel's
	}
	if err := writeSwitch(brw.Writer, resp); err != nil {
		client.Close()
		back.Close()
		a.End(upstream.Failed(upstream.ClientGone))
		return
	}
	relayBoth(client, brw.Reader, back, h.idle)
	a.End(upstream.Answer(resp.StatusCode))
}

// tunnelConn is the upstream side of a switched connection (h1.Client's
// body of a 101 or a CONNECT's 2xx).
type tunnelConn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// writeSwitch sends the endpoint's switching answer to the client: its
// status and headers as they are (Upgrade and Connection carry a switch).
func writeSwitch(w *bufio.Writer, resp *http.Response) error {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(resp.Status)
	w.WriteString("\r\n")
	if err := resp.Header.Write(w); err != nil {
		return err
	}
	w.WriteString("\r\n")
	return w.Flush()
}

// relayBoth copies both ways. A direction that reaches EOF half-closes its
// destination and the other goes on; an error on either ends both. Every
// read and write on the client's connection pushes its deadline to now +
// idle, and the upstream's connection does the same itself (h1.Client), so
// a tunnel moving no byte either way for idle ends.
func relayBoth(client net.Conn, clientBuf *bufio.Reader, back tunnelConn, idle time.Duration) {
	// The handshake's deadline (timeout) does not reach the tunnel.
	if idle > 0 {
		client.SetDeadline(time.Now().Add(idle))
	} else {
		client.SetDeadline(time.Time{})
	}
	up := make(chan error, 1)
	go func() {
		err := copyWith(back, &idleReader{r: clientBuf, c: client, idle: idle})
		if err == nil {
			err = back.CloseWrite()
		}
		up <- err
	}()
	err := copyWith(&idleWriter{c: client, idle: idle}, back)
	if err == nil {
		err = closeWrite(client)
	}
	if err != nil {
		client.Close()
		back.Close()
	}
	if err := <-up; err != nil {
		client.Close()
		back.Close()
	}
	client.Close()
	back.Close()
}

func copyWith(dst io.Writer, src io.Reader) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	_, err := io.CopyBuffer(dst, src, *bp)
	return err
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// idleReader and idleWriter push the connection's deadline (both
// directions) to now + idle before each read or write.
type idleReader struct {
	r    io.Reader
	c    net.Conn
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		r.c.SetDeadline(time.Now().Add(r.idle))
	}
	return r.r.Read(p)
}

type idleWriter struct {
	c    net.Conn
	idle time.Duration
}

func (w *idleWriter) Write(p []byte) (int, error) {
	if w.idle > 0 {
		w.c.SetDeadline(time.Now().Add(w.idle))
	}
	return w.c.Write(p)
}
