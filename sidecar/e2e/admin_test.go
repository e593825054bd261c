package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestAdminAPIEndToEnd(t *testing.T) {
	a := newInstance(t, "a", 0)
	b := newInstance(t, "b", 0)
	p := startSidecar(t, upstreamYAML("round_robin", "5s", a.addr(), b.addr())+`consul:
  token: s3cret
`)
	for _, path := range []string{"/healthz", "/ready"} {
		if status, _, body := getBody(t, "http://"+p.admin+path); status != 200 {
			t.Fatalf("%s: %d %q", path, status, body)
		}
	}
	got, bad := drive(t, p.url("payments", "/"), 40, 4)
	if len(bad) > 0 || got["a"]+got["b"] != 40 {
		t.Fatalf("traffic: %v bad %v", got, bad)
	}

	ups := p.upstreams().Upstreams
	if len(ups) != 1 {
		t.Fatalf("upstreams: %+v", ups)
	}
	u := ups[0]
	if u.Name != "payments" || u.Listen != p.listen["payments"] || u.Protocol != "http" || u.LB != "round_robin" ||
		u.Discovery != "static" || u.Breaker != "closed" || u.ActiveRequests != 0 || len(u.Endpoints) != 2 {
		t.Fatalf("upstream view: %+v", u)
	}
	if _, err := time.Parse(time.RFC3339, u.LastUpdate); err != nil || !strings.HasSuffix(u.LastUpdate, "Z") {
		t.Fatalf("last_update %q is not RFC 3339 UTC", u.LastUpdate)
	}
	var requests uint64
	for _, e := range u.Endpoints {
		if e.ID != e.Address || !e.Healthy || e.Ejected || e.EjectedUntil != "" || e.Failures != 0 || e.ActiveRequests != 0 {
			t.Fatalf("endpoint view: %+v", e)
		}
		if e.Requests != 20 {
			t.Fatalf("round robin: endpoint %s served %d of 40", e.Address, e.Requests)
		}
		requests += e.Requests
	}

	// The exact JSON field names are the contract; check them on the raw body.
	_, _, raw := getBody(t, "http://"+p.admin+"/upstreams")
	for _, field := range []string{`"name"`, `"listen"`, `"protocol"`, `"lb"`, `"discovery"`, `"last_update"`, `"breaker"`,
		`"active_requests"`, `"endpoints"`, `"address"`, `"id"`, `"healthy"`, `"ejected"`, `"ejected_until"`,
		`"ejection_reason"`, `"ejections"`, `"requests"`, `"failures"`} {
		if !strings.Contains(raw, field+":") {
			t.Errorf("/upstreams lacks field %s", field)
		}
	}

	m := scrape(t, p.admin)
	for _, want := range []string{
		`outrigger_upstream_requests_total{code="200",endpoint="` + a.addr() + `",upstream="payments"} 20`,
		`outrigger_upstream_request_duration_seconds_count{upstream="payments"} 40`,
		`outrigger_upstream_active_requests{upstream="payments"} 0`,
		`outrigger_upstream_endpoints{state="healthy",upstream="payments"} 2`,
		`outrigger_upstream_endpoints{state="ejected",upstream="payments"} 0`,
		`outrigger_local_replies_total{reason="no_healthy_upstream",upstream="payments"} 0`,
		`outrigger_retries_total{upstream="payments"} 0`,
		`outrigger_discovery_updates_total{upstream="payments"} 1`,
		`outrigger_discovery_errors_total{upstream="payments"} 0`,
		`outrigger_discovery_last_update_timestamp_seconds{upstream="payments"} `,
		`# TYPE outrigger_upstream_request_duration_seconds histogram`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	_, _, cfg := getBody(t, "http://"+p.admin+"/config")
	var parsed map[string]any
	if err := json.Unmarshal([]byte(cfg), &parsed); err != nil {
		t.Fatalf("/config is not JSON: %v", err)
	}
	if strings.Contains(cfg, "s3cret") || !strings.Contains(cfg, `"<redacted>"`) {
		t.Fatalf("/config does not redact the token:\n%s", cfg)
	}

	out, err := exec.Command(binary, "status", "--admin", p.admin).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "UPSTREAM") || !strings.Contains(lines[1], "healthy") ||
		!strings.Contains(lines[1], "closed") || !strings.Contains(string(out), a.addr()) {
		t.Fatalf("status table:\n%s", out)
	}
}

func TestStatusWithoutAdminExits1(t *testing.T) {
	cmd := exec.Command(binary, "status", "--admin", closedAddr(t))
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "cannot reach") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "outrigger ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("version: %v %s", err, out)
	}
}
