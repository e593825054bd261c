package ratelimit

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// inbound.rate_limit is reachable from the environment (OUTRIGGER_*
// overrides every non-list key). Whatever a variable says, config either
// refuses it with an error naming the variable's key, or hands the bucket
// a rate it works with: no panic, no NaN wait, Retry-After at least a
// second and at most maxRetryAfter.
func TestRateFromEnvironmentIsSafe(t *testing.T) {
	const yaml = "service: {name: web, port: 8080}\ninbound: {listen: 127.0.0.1:0}\n"
	for _, tc := range []struct {
		rps, burst string
		refused    string // the key named in the error; "" when valid
	}{
		{rps: "NaN", refused: "inbound.rate_limit.requests_per_second"},
		{rps: "+Inf", refused: "inbound.rate_limit.requests_per_second"},
		{rps: "-1", refused: "inbound.rate_limit.requests_per_second"},
		{rps: "1e10", refused: "inbound.rate_limit.requests_per_second"},
		{rps: "1e400", refused: "inbound.rate_limit.requests_per_second"}, // overflows float64
		{rps: "1", burst: "-5", refused: "inbound.rate_limit.burst"},
		{rps: "0x1p-1074"}, // the smallest float64 above 0
		{rps: "1e-300"},
		{rps: "0.001"},
		{rps: "1e9"},
		{rps: "1e9", burst: "9007199254740992"},
		{rps: "0.001", burst: "9007199254740992"},
	} {
		t.Run(tc.rps+"/"+tc.burst, func(t *testing.T) {
			env := []string{"OUTRIGGER_INBOUND_RATE_LIMIT_REQUESTS_PER_SECOND=" + tc.rps}
			if tc.burst != "" {
				env = append(env, "OUTRIGGER_INBOUND_RATE_LIMIT_BURST="+tc.burst)
			}
			cfg, _, err := config.Parse("c.yaml", "yaml", []byte(yaml), env)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err = %v, want one naming %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1700000000, 0)
			l := New(cfg.Inbound.RateLimit, func() time.Time { return now })
			if l == nil {
				t.Fatal("a positive rate built no bucket")
			}
			for i := range 3 {
				ok, wait := l.AllowAt(now)
				if ok {
					continue
				}
				if wait < time.Second || wait > maxRetryAfter {
					t.Fatalf("refusal %d: Retry-After %v, want within [1s, %v]", i, wait, maxRetryAfter)
				}
			}
			if ok, wait := l.AllowAt(now.Add(time.Duration(math.MaxInt64))); !ok && (wait < time.Second || wait > maxRetryAfter) {
				t.Fatalf("far in the future: Retry-After %v", wait)
			}
		})
	}
}
