package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// One request through two sidecars — web's upstream `payments` found in
// Consul, payments' inbound listener in front of the payments app — shows
// in Jaeger as one trace: web's CLIENT span as a child of the caller's
// span, payments' SERVER span as a child of web's, and the caller's baggage
// at the payments app.
func TestTraceAcrossTwoSidecarsInJaeger(t *testing.T) {
	t.Parallel()
	consul := startConsul(t)
	jaeger := startJaeger(t)

	type seen struct{ Traceparent, Baggage string }
	got := make(chan seen, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.Header.Get("Traceparent"), r.Header.Get("Baggage")}:
		default:
		}
		io.WriteString(w, "paid")
	}))
	t.Cleanup(app.Close)
	_, appPort, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))

	tracingYAML := fmt.Sprintf(`tracing:
  exporter: otlp
  endpoint: %s
  protocol: grpc
  insecure: true
  sample_ratio: 1.0
`, jaeger.otlpGRPC())
	payments := startSidecar(t, fmt.Sprintf(`service:
  name: payments
  id: payments-1
  address: 127.0.0.1
  port: %s
  register: true
  check: {interval: 1s}
inbound:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
consul:
  address: %s
upstreams: []
%s`, appPort, consul.Addr(), tracingYAML))
	inbound := payments.listen["inbound"]

	web := startSidecar(t, fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
consul:
  address: %s
upstreams:
  - name: payments
    listen: 127.0.0.1:0
%s`, consul.Addr(), tracingYAML))
	waitEndpoints(t, web, "payments", 15*time.Second, inbound)

	traceID, parentID := randomHex(t, 16), randomHex(t, 8)
	req, _ := http.NewRequest("GET", web.url("payments", "/charge"), nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	req.Header.Set("Baggage", "user=alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "paid" {
		t.Fatalf("response %d %q", resp.StatusCode, body)
	}
	atApp := <-got
	if atApp.Baggage != "user=alice" || !strings.HasPrefix(atApp.Traceparent, "00-"+traceID+"-") {
		t.Fatalf("the app got traceparent %q baggage %q", atApp.Traceparent, atApp.Baggage)
	}

	tr := jaeger.waitTrace(t, traceID, 20*time.Second, func(tr jaegerTrace) bool {
		return len(tr.spansOf("web")) > 0 && len(tr.spansOf("payments")) > 0
	})
	client, server := tr.spansOf("web")[0], tr.spansOf("payments")[0]
	if client.OperationName != "GET payments" || client.tag("span.kind") != "client" ||
		client.tag("outrigger.upstream") != "payments" || client.tag("http.response.status_code") != "200" ||
		client.tag("server.address") != "127.0.0.1" {
		t.Fatalf("web's span: %+v", client)
	}
	if client.parentID() != parentID {
		t.Fatalf("web's span has parent %q, want the caller's %q", client.parentID(), parentID)
	}
	if server.OperationName != "GET inbound" || server.tag("span.kind") != "server" || server.parentID() != client.SpanID {
		t.Fatalf("payments' span: %+v (web's span id %s)", server, client.SpanID)
	}
	// The app's parent is payments' SERVER span: the whole chain links up.
	if want := "00-" + traceID + "-" + server.SpanID + "-01"; atApp.Traceparent != want {
		t.Fatalf("the app's traceparent %q, want %q", atApp.Traceparent, want)
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(tr, "", "  ")
		t.Logf("trace:\n%s", b)
	}
}
