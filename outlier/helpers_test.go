package outlier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// t0 is the fixtures' start time.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects JSON log lines; safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the records whose message is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// testConfig is the contract's defaults, with max_ejection_percent 50.
func testConfig() config.Outlier {
	return config.Outlier{
		Enabled:                      true,
		Interval:                     10 * time.Second,
		Consecutive5xx:               5,
		ConsecutiveLocalFailure:      5,
		FailurePercentage:            0,
		FailurePercentageMinRequests: 50,
		BaseEjectionTime:             30 * time.Second,
		MaxEjectionTime:              300 * time.Second,
		MaxEjectionPercent:           50,
	}
}

type fixture struct {
	d     *Detector
	clock *clock
	hosts []*Host
	logs  *logBuffer
}

// newFixture builds a detector for cfg with n listed hosts 10.0.0.i:80.
func newFixture(t *testing.T, cfg config.Outlier, n int) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: t0}, logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.d = NewDetector(cfg, Options{Now: f.clock.Now, Logger: log, Upstream: "api"})
	for i := range n {
		h := new(Host)
		h.Init(fmt.Sprintf("10.0.0.%d:80", i))
		f.hosts = append(f.hosts, h)
	}
	f.d.SetHosts(f.hosts)
	t.Cleanup(func() {
		if t.Failed() {
			f.logs.mu.Lock()
			t.Logf("detector log:\n%s", f.logs.buf.String())
			f.logs.mu.Unlock()
		}
	})
	return f
}

// record records o on h k times, each taking 1ms, and returns how many
// calls reported a change.
func (f *fixture) record(h *Host, o Outcome, k int) int {
	return f.recordLat(h, o, k, time.Millisecond)
}

// recordLat records o on h k times, each taking latency, and returns how
// many calls reported a change.
func (f *fixture) recordLat(h *Host, o Outcome, k int, latency time.Duration) int {
	changes := 0
	for range k {
		if f.d.Record(h, o, latency) {
			changes++
		}
	}
	return changes
}

// eject5xx ejects h with a run of consecutive 5xx and fails if it is not.
func (f *fixture) eject5xx(t *testing.T, h *Host) {
	t.Helper()
	if h.Ejected() {
		t.Fatalf("%s is already ejected", h.Address())
	}
	f.record(h, Upstream5xx, int(f.d.max5xx))
	if !h.Ejected() {
		t.Fatalf("%s: not ejected after %d consecutive 5xx", h.Address(), f.d.max5xx)
	}
}

func (f *fixture) ejectedCount() int {
	c := 0
	for _, h := range f.hosts {
		if h.Ejected() {
			c++
		}
	}
	return c
}
