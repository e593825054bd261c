//lint:file-ignore SA1019 x/net/http2.Transport is used on purpose: an HTTP/2 client other than the net/http code the sidecar serves with (until Go 1.27 makes it a wrapper of net/http).

package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// http2YAML renders a config with one protocol http2 upstream "grpc".
// An endpoint is ejected after 3 consecutive failures for a minute; the
// breaker never opens (these tests are about single endpoints).
func http2YAML(endpoints ...string) string {
	quoted := make([]string, len(endpoints))
	for i, e := range endpoints {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
upstreams:
  - name: grpc
    protocol: http2
    listen: 127.0.0.1:0
    lb: round_robin
    timeout: 30s
    connect_timeout: 500ms
    endpoints: [%s]
    outlier:
      consecutive_5xx: 3
      base_ejection_time: 1m
    circuit_breaker:
      min_requests: 1000000
`, strings.Join(quoted, ", "))
}

// grpcBackend is a real grpc-go server of the interop TestService:
// UnaryCall answers with its name (or UNAVAILABLE when failing),
// FullDuplexCall echoes every message.
type grpcBackend struct {
	grpc_testing.UnimplementedTestServiceServer
	name    string
	failing bool
	hits    atomic.Int64
	addr    string
}

func (b *grpcBackend) UnaryCall(ctx context.Context, req *grpc_testing.SimpleRequest) (*grpc_testing.SimpleResponse, error) {
	b.hits.Add(1)
	if b.failing {
		return nil, status.Error(codes.Unavailable, b.name+" is down")
	}
	return &grpc_testing.SimpleResponse{Payload: &grpc_testing.Payload{Body: []byte(b.name)}}, nil
}

func (b *grpcBackend) FullDuplexCall(stream grpc.BidiStreamingServer[grpc_testing.StreamingOutputCallRequest, grpc_testing.StreamingOutputCallResponse]) error {
	b.hits.Add(1)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&grpc_testing.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

func newGRPCBackend(t *testing.T, name string, failing bool) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{name: name, failing: failing, addr: ln.Addr().String()}
	s := grpc.NewServer()
	grpc_testing.RegisterTestServiceServer(s, b)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return b
}

// grpcTo is a grpc-go client of the TestService at addr.
func grpcTo(t *testing.T, addr string) grpc_testing.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return grpc_testing.NewTestServiceClient(cc)
}

func unaryBody(ctx context.Context, c grpc_testing.TestServiceClient) (string, error) {
	resp, err := c.UnaryCall(ctx, &grpc_testing.SimpleRequest{})
	return string(resp.GetPayload().GetBody()), err
}

// pingPong sends n messages on a bidirectional stream, each answered
// before the next goes.
func pingPong(t *testing.T, stream grpc.BidiStreamingClient[grpc_testing.StreamingOutputCallRequest, grpc_testing.StreamingOutputCallResponse], from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		body := []byte("message " + strconv.Itoa(i))
		if err := stream.Send(&grpc_testing.StreamingOutputCallRequest{Payload: &grpc_testing.Payload{Body: body}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got, err := stream.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != string(body) {
			t.Fatalf("message %d: %v %v", i, got, err)
		}
	}
}

func TestHTTP2GRPCUnaryAndBidiStream(t *testing.T) {
	t.Parallel()
	b := newGRPCBackend(t, "solo", false)
	p := startSidecar(t, http2YAML(b.addr))
	client := grpcTo(t, p.listen["grpc"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if body, err := unaryBody(ctx, client); err != nil || body != "solo" {
			t.Fatalf("unary call %d: %q %v", i, body, err)
		}
	}
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, stream, 0, 1000)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
	e := p.endpointView("grpc", b.addr)
	if e.Requests != 21 || e.Failures != 0 || e.ActiveRequests != 0 {
		t.Fatalf("endpoint %+v, want 21 requests, no failure, none active", e)
	}
}

// A backend that answers UNAVAILABLE to every call (HTTP 200, grpc-status
// 14 in a Trailers-Only response) is ejected for consecutive_5xx, and the
// healthy one serves everything after.
func TestHTTP2GRPCUnavailableBackendIsEjected(t *testing.T) {
	t.Parallel()
	good, bad := newGRPCBackend(t, "good", false), newGRPCBackend(t, "bad", true)
	p := startSidecar(t, http2YAML(good.addr, bad.addr))
	client := grpcTo(t, p.listen["grpc"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unavailable := 0
	for i := 0; i < 100 && !p.endpointView("grpc", bad.addr).Ejected; i++ {
		body, err := unaryBody(ctx, client)
		switch {
		case status.Code(err) == codes.Unavailable && status.Convert(err).Message() == "bad is down":
			unavailable++
		case err != nil || body != "good":
			t.Fatalf("call %d: %q %v", i, body, err)
		}
	}
	e := p.endpointView("grpc", bad.addr)
	if !e.Ejected || e.EjectionReason != "consecutive_5xx" || e.Failures != 3 || unavailable != 3 {
		t.Fatalf("bad endpoint %+v after %d UNAVAILABLE answers", e, unavailable)
	}
	for i := range 30 {
		if body, err := unaryBody(ctx, client); err != nil || body != "good" {
			t.Fatalf("call %d after the ejection: %q %v", i, body, err)
		}
	}
	if g := p.endpointView("grpc", good.addr); g.Failures != 0 || g.Ejected {
		t.Fatalf("good endpoint %+v", g)
	}
	if hits := bad.hits.Load(); hits != 3 {
		t.Fatalf("the bad backend saw %d calls, want 3", hits)
	}
}

// h2cOnlyBackend is a net/http server that speaks only h2c with prior
// knowledge, answering with a body and trailers (one announced, one not).
func h2cOnlyBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s body=%q", r.Proto, r.Method, r.URL.Path, body)
		w.Header().Set("X-Checksum", "c0ffee")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "late")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// Plain h2c requests from golang.org/x/net/http2's client (AllowHTTP, a
// plain TCP dial) go through, trailers of a non-gRPC response included;
// an HTTP/1.1 client is served on the same listener, HTTP/2 to the
// endpoint.
func TestHTTP2PlainH2CRequestsAndTrailers(t *testing.T) {
	t.Parallel()
	p := startSidecar(t, http2YAML(h2cOnlyBackend(t)))
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("hello")
		}
		req, _ := http.NewRequest(method, p.url("grpc", "/h2c"), body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `HTTP/2.0 ` + method + ` /h2c body=""`
		if method == "POST" {
			want = `HTTP/2.0 POST /h2c body="hello"`
		}
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(b) != want {
			t.Fatalf("%s: %s %d %q %v, want %q", method, resp.Proto, resp.StatusCode, b, err, want)
		}
		if resp.Trailer.Get("X-Checksum") != "c0ffee" || resp.Trailer.Get("X-Undeclared") != "late" {
			t.Fatalf("%s: trailers %v", method, resp.Trailer)
		}
	}
	status, _, body := getBody(t, p.url("grpc", "/h1"))
	if status != 200 || body != `HTTP/2.0 GET /h1 body=""` {
		t.Fatalf("HTTP/1.1 client: %d %q", status, body)
	}
}

// On SIGTERM the http2 listener sends GOAWAY and stops accepting, but a
// gRPC stream already open runs to its end; then the sidecar exits 0.
func TestHTTP2GRPCStreamSurvivesDrain(t *testing.T) {
	t.Parallel()
	b := newGRPCBackend(t, "solo", false)
	p := startSidecar(t, http2YAML(b.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := grpcTo(t, p.listen["grpc"]).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, stream, 0, 10)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.listen["grpc"], time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the http2 listener to close")
	pingPong(t, stream, 10, 100)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("outrigger did not exit after the last stream")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(p.logs.String(), `"upstreams_cut":0`) {
		t.Fatalf("the drain cut something:\n%s", p.logs)
	}
}
