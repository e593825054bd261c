package main

import (
	"fmt"
	"net/http"
	"time"
)

// Slow switch: POST /control/slow?delay=D makes every request other than
// /health and /control/* wait D more (on top of -latency) before it is
// answered, POST /control/heal undoes it. Like the failure switch it leaves
// /health alone, so Consul keeps the instance passing: only a client that
// times real answers (the sidecar's outlier.latency_factor) notices.
const maxSlowDelay = time.Minute // longer would outlast any client's timeout

// slow serves POST /control/slow?delay=D.
func (b *backend) slow(w http.ResponseWriter, r *http.Request) {
	d, err := parseSlowDelay(r.URL.Query().Get("delay"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.setSlow(d)
	b.writeState(w)
}

// setSlow sets the slow switch's delay (0: off) and logs a change.
func (b *backend) setSlow(d time.Duration) {
	prev := time.Duration(b.slowDelay.Swap(int64(d)))
	if prev == d || b.log == nil {
		return
	}
	if d > 0 {
		b.log.Info("slow switch on: every request waits longer on purpose (/health still answers at once)", "delay", d)
	} else {
		b.log.Info("slow switch off: answering at normal speed again", "was", prev)
	}
}

// parseSlowDelay reads the delay query parameter of /control/slow, a Go
// duration above 0 and at most maxSlowDelay.
func parseSlowDelay(q string) (time.Duration, error) {
	if q == "" {
		return 0, fmt.Errorf("delay is required, e.g. delay=200ms")
	}
	d, err := time.ParseDuration(q)
	if err != nil || d <= 0 || d > maxSlowDelay {
		return 0, fmt.Errorf("delay must be a duration above 0 and at most %s, got %q", maxSlowDelay, q)
	}
	return d, nil
}
