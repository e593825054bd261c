package admin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// /upstreams shows each endpoint's discovery weight, its health (passing
// or warning) and the end of its slow-start ramp ("" when not ramping).
func TestUpstreamsShowWeightHealthAndSlowStart(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := config.DefaultUpstream()
	cfg.Name, cfg.SlowStart, cfg.Health = "payments", 10*time.Second, config.HealthPassingOrWarning
	u, err := upstream.New(cfg, upstream.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	u.Update([]discovery.Instance{{Address: "127.0.0.1:1", ID: "a", Healthy: true, Weight: 10}})
	u.Update([]discovery.Instance{
		{Address: "127.0.0.1:1", ID: "a", Healthy: true, Weight: 10},
		{Address: "127.0.0.1:2", ID: "b", Healthy: true, Weight: 2, Warning: true},
	})
	b, err := json.Marshal(upstreamsView([]*upstream.Upstream{u}, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"id":"a","healthy":true`,
		`"weight":10,"health":"passing","slow_start_until":""`,
		`"weight":2,"health":"warning","slow_start_until":"2025-01-02T03:04:15Z"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/upstreams lacks %s:\n%s", want, b)
		}
	}
}
