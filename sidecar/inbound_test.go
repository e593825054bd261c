package sidecar

import (
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// inbound.rate_limit reaches the inbound route's upstream config, from
// which its handler builds the bucket (sidecar/proxy); the e2e test
// TestRateLimitInbound shows the 429s on a running sidecar.
func TestInboundUpstreamCarriesTheRateLimit(t *testing.T) {
	cfg := &config.Config{}
	cfg.Service.Address, cfg.Service.Port = "127.0.0.1", 8080
	cfg.Inbound = config.Inbound{Listen: "127.0.0.1:0", RateLimit: config.RateLimit{RequestsPerSecond: 50, Burst: 60}}
	if got := inboundUpstream(cfg).RateLimit; got != cfg.Inbound.RateLimit {
		t.Fatalf("inbound upstream rate_limit %+v, want %+v", got, cfg.Inbound.RateLimit)
	}
}
