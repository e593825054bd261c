package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2Upstream is a hand-made h2c upstream (no real server can be made to
// send an invalid :status or reset streams on demand): answer is called for
// every request's HEADERS frame with the framer and the stream id.
func rawH2Upstream(t *testing.T, answer func(fr *http2.Framer, id uint32)) string {
	t.Helper()
	return rawListener(t, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		fr.WriteSettings()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				answer(fr, f.StreamID)
			}
		}
	})
}

func writeStatus(fr *http2.Framer, id uint32, status string) {
	var hb bytes.Buffer
	hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: ":status", Value: status})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
}

// Regression (review): net/http's HTTP/2 client takes any :status; "0" or
// "1000" reached WriteHeader, which panicked before the attempt ended, so
// the endpoint's lease (and a half-open breaker's probe) was held for good.
func TestH2InvalidStatusIsAProtocolError(t *testing.T) {
	for _, st := range []string{"0", "99", "101", "1000"} {
		t.Run(st, func(t *testing.T) {
			up := expectH2ProtocolError(t, rawH2Upstream(t, func(fr *http2.Framer, id uint32) { writeStatus(fr, id, st) }))
			ep := up.Snapshot().Members[0].Endpoint
			if ep.Active() != 0 || ep.Requests() != 1 || ep.Failures() != 1 {
				t.Fatalf("endpoint active %d requests %d failures %d, want 0 1 1", ep.Active(), ep.Requests(), ep.Failures())
			}
		})
	}
}

// Regression (review): net/http's HTTP/2 client sends a NoBody request
// again on its own after a stream reset; a POST must reach the endpoint
// once.
func TestH2BodylessPostSentOnce(t *testing.T) {
	var posts atomic.Int64
	be := rawH2Upstream(t, func(fr *http2.Framer, id uint32) {
		posts.Add(1)
		fr.WriteRSTStream(id, http2.ErrCodeProtocol)
	})
	cfg := h2Config()
	cfg.Retries.Attempts = 0
	front, _, _ := h2Front(t, cfg, be)
	resp, err := h2cClient(t).Post("http://"+front+"/charge", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := posts.Load(); n != 1 {
		t.Fatalf("the endpoint saw the POST %d times, want 1", n)
	}
}

// Regression (review): request trailers went to an HTTP/2 endpoint
// unfiltered; a client could send `Connection` as a trailer, the endpoint
// reset the stream, and the failure counted against the endpoint. Only
// fields allowed in a trailer are forwarded; the rest are dropped.
func TestTrailersFilteredForH2(t *testing.T) {
	got := make(chan http.Header, 4)
	be := h2Backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	})
	front, up, _ := h2Front(t, h2Config(), be)
	for _, name := range []string{"Connection", "Host", "Content-Length", "X-Ok"} {
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: %s\r\n\r\n5\r\nhello\r\n0\r\n%s: x\r\n\r\n", name, name)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("trailer %s: %v %v", name, resp, err)
		}
		tr := <-got
		if _, sent := tr[name]; sent != (name == "X-Ok") {
			t.Fatalf("trailer %s reached the endpoint: %v", name, tr)
		}
	}
	if ep := up.Snapshot().Members[0].Endpoint; ep.Failures() != 0 {
		t.Fatalf("endpoint failures %d, want 0", ep.Failures())
	}
}

// Regression (review): a client reading a large answer steadily but
// slowly, so the request's timeout ran out while the sidecar was writing
// to it, got the endpoint a timeout failure. The time was the client's.
func TestSlowReaderIsTheClients(t *testing.T) {
	const size = 64 << 20
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		buf := make([]byte, 1<<20)
		for n := 0; n < size; n += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	cfg := limitsCfg()
	cfg.Timeout = time.Second
	front, up := h1Front(t, cfg, time.Second, be)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 256<<10)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // a steady, slow reader: never still for the 1s bound
	}
	waitUntil(t, func() bool { return up.Stats().Active() == 0 }, "the request to end")
	ep := up.Snapshot().Members[0].Endpoint
	codes := map[int]uint64{}
	ep.EachCode(func(code int, n uint64) { codes[code] = n })
	if ep.Failures() != 0 || codes[499] != 1 {
		t.Fatalf("endpoint failures %d codes %v, want no failure and one 499", ep.Failures(), codes)
	}
}

// A request whose headers are larger than an HTTP/2 endpoint accepts (its
// SETTINGS_MAX_HEADER_LIST_SIZE) is the client's: 431 bad_request, and no
// failure for the endpoint.
func TestH2RequestTooLargeForTheEndpoint(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.MaxHeaderBytes = 4 << 10
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := h2Config()
	cfg.Retries.Attempts = 0
	front, up, _ := h2Front(t, cfg, srv.Listener.Addr().String())
	client := h2cClient(t)
	client.Get("http://" + front + "/") // the endpoint's SETTINGS are known after a first exchange
	req, _ := http.NewRequest("GET", "http://"+front+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 || resp.Header.Get("X-Outrigger-Error") != "bad_request" {
		t.Fatalf("%d %q, want 431 bad_request", resp.StatusCode, resp.Header.Get("X-Outrigger-Error"))
	}
	if ep := up.Snapshot().Members[0].Endpoint; ep.Failures() != 0 {
		t.Fatalf("endpoint failures %d, want 0", ep.Failures())
	}
}
