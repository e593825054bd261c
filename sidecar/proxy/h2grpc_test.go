package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
)

func TestGRPCOutcome(t *testing.T) {
	grpcHeader := func(ct, st string) http.Header {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		if st != "" {
			h.Set("Grpc-Status", st)
		}
		return h
	}
	cases := []struct {
		name    string
		header  http.Header
		trailer http.Header
		want    bool
	}{
		{"unavailable in trailers", grpcHeader("application/grpc", ""), grpcHeader("", "14"), true},
		{"internal in trailers", grpcHeader("application/grpc+proto", ""), grpcHeader("", "13"), true},
		{"unknown in trailers", grpcHeader("application/grpc;charset=utf-8", ""), grpcHeader("", "2"), true},
		{"deadline exceeded", grpcHeader("Application/GRPC", ""), grpcHeader("", "4"), true},
		{"trailers-only unavailable", grpcHeader("application/grpc", "14"), nil, true},
		{"trailers win over headers", grpcHeader("application/grpc", "14"), grpcHeader("", "0"), false},
		{"ok", grpcHeader("application/grpc", ""), grpcHeader("", "0"), false},
		{"not found is the app's answer", grpcHeader("application/grpc", ""), grpcHeader("", "5"), false},
		{"resource exhausted", grpcHeader("application/grpc", ""), grpcHeader("", "8"), false},
		{"no grpc-status", grpcHeader("application/grpc", ""), nil, false},
		{"grpc-web keeps status in the body", grpcHeader("application/grpc-web", "14"), nil, false},
		{"not grpc", grpcHeader("application/json", "14"), nil, false},
		{"no content type", grpcHeader("", "14"), nil, false},
		{"a 5xx is already a failure", grpcHeader("application/grpc", ""), grpcHeader("", "14"), false},
	}
	for _, c := range cases {
		status := 200
		if strings.HasPrefix(c.name, "a 5xx") {
			status = 503
		}
		resp := &http.Response{StatusCode: status, Header: c.header, Trailer: c.trailer}
		if got := grpcUnwell(resp); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestGRPCOutcomeAllocatesNothing(t *testing.T) {
	resp := &http.Response{
		Header:  http.Header{"Content-Type": {"application/grpc+proto"}},
		Trailer: http.Header{"Grpc-Status": {"14"}},
	}
	if n := testing.AllocsPerRun(100, func() { grpcUnwell(resp) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// grpcTestServer answers UnaryCall by the request's payload body:
// "unavailable" fails before any message (a Trailers-Only response),
// "notfound" too, anything else is echoed with a trailer set.
// StreamingOutputCall sends one message, then fails with UNAVAILABLE
// when the payload says "unavailable" (status in real trailers).
type grpcTestServer struct {
	grpc_testing.UnimplementedTestServiceServer
}

func (grpcTestServer) UnaryCall(ctx context.Context, req *grpc_testing.SimpleRequest) (*grpc_testing.SimpleResponse, error) {
	switch body := string(req.GetPayload().GetBody()); body {
	case "unavailable":
		return nil, status.Error(codes.Unavailable, "backend down")
	case "notfound":
		return nil, status.Error(codes.NotFound, "no such thing")
	default:
		grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t-"+body))
		return &grpc_testing.SimpleResponse{Payload: &grpc_testing.Payload{Body: []byte(body)}}, nil
	}
}

func (grpcTestServer) StreamingOutputCall(req *grpc_testing.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[grpc_testing.StreamingOutputCallResponse]) error {
	if err := stream.Send(&grpc_testing.StreamingOutputCallResponse{Payload: &grpc_testing.Payload{Body: []byte("one")}}); err != nil {
		return err
	}
	if string(req.GetPayload().GetBody()) == "unavailable" {
		return status.Error(codes.Unavailable, "went down mid-stream")
	}
	return nil
}

// FullDuplexCall echoes every message as it comes.
func (grpcTestServer) FullDuplexCall(stream grpc.BidiStreamingServer[grpc_testing.StreamingOutputCallRequest, grpc_testing.StreamingOutputCallResponse]) error {
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

func startGRPCBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	grpc_testing.RegisterTestServiceServer(s, grpcTestServer{})
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func grpcClient(t *testing.T, addr string) grpc_testing.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return grpc_testing.NewTestServiceClient(cc)
}

// TestGRPCStatusesThroughH2CProxy: statuses and trailers of a real
// grpc-go server reach a grpc-go client through the proxy, both in
// Trailers-Only responses and in trailers after messages, and the
// failing codes count as endpoint failures and open the breaker.
func TestGRPCStatusesThroughH2CProxy(t *testing.T) {
	cfg := h2Config()
	cfg.CircuitBreaker.MaxRequests = 100
	cfg.CircuitBreaker.FailureRatio = 0.5
	cfg.CircuitBreaker.MinRequests = 6
	cfg.CircuitBreaker.Interval = time.Minute
	cfg.CircuitBreaker.OpenTimeout = time.Minute
	cfg.CircuitBreaker.HalfOpenRequests = 1
	front, up, _ := h2Front(t, cfg, startGRPCBackend(t))
	client := grpcClient(t, front)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep := up.Snapshot().Members[0].Endpoint
	unary := func(body string) (*grpc_testing.SimpleResponse, metadata.MD, error) {
		var tr metadata.MD
		resp, err := client.UnaryCall(ctx, &grpc_testing.SimpleRequest{Payload: &grpc_testing.Payload{Body: []byte(body)}}, grpc.Trailer(&tr))
		return resp, tr, err
	}

	resp, tr, err := unary("hello")
	if err != nil || string(resp.GetPayload().GetBody()) != "hello" || tr.Get("x-trailer")[0] != "t-hello" {
		t.Fatalf("unary: %v %v %v", resp, tr, err)
	}
	if _, _, err := unary("notfound"); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "no such thing" {
		t.Fatalf("notfound: %v", err)
	}
	if ep.Failures() != 0 {
		t.Fatalf("OK and NOT_FOUND counted as %d failures", ep.Failures())
	}
	if _, _, err := unary("unavailable"); status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "backend down" {
		t.Fatalf("trailers-only unavailable: %v", err)
	}
	if ep.Failures() != 1 {
		t.Fatalf("a Trailers-Only UNAVAILABLE counted as %d failures", ep.Failures())
	}
	for _, body := range []string{"fine", "unavailable"} {
		stream, err := client.StreamingOutputCall(ctx, &grpc_testing.StreamingOutputCallRequest{Payload: &grpc_testing.Payload{Body: []byte(body)}})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := stream.Recv()
		if err != nil || string(msg.GetPayload().GetBody()) != "one" {
			t.Fatalf("%s: first message %v %v", body, msg, err)
		}
		_, err = stream.Recv()
		if body == "fine" && !errors.Is(err, io.EOF) {
			t.Fatalf("fine stream ended with %v", err)
		}
		if body == "unavailable" && (status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "went down mid-stream") {
			t.Fatalf("stream ended with %v", err)
		}
	}
	if ep.Failures() != 2 || ep.Requests() != 5 {
		t.Fatalf("requests %d failures %d, want 5 and 2", ep.Requests(), ep.Failures())
	}
	// Two more failures make 4 of 7: the breaker opens.
	for range 2 {
		unary("unavailable")
	}
	if st := up.Breaker().State(); st != breaker.Open {
		t.Fatalf("breaker %s after 4 UNAVAILABLE of 7 calls", st)
	}
	if _, _, err := unary("hello"); status.Code(err) != codes.Unavailable {
		t.Fatalf("with the breaker open: %v", err)
	}
}

// TestGRPCBidiStreamThroughH2CProxy is a 1,000-message ping-pong on one
// bidirectional stream.
func TestGRPCBidiStreamThroughH2CProxy(t *testing.T) {
	front, _, _ := h2Front(t, h2Config(), startGRPCBackend(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := grpcClient(t, front).FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		body := []byte(strconv.Itoa(i))
		if err := stream.Send(&grpc_testing.StreamingOutputCallRequest{Payload: &grpc_testing.Payload{Body: body}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got, err := stream.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != string(body) {
			t.Fatalf("message %d: %v %v", i, got, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
}
