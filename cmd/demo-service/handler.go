package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Failure switch: POST /control/fail?status=CODE makes every request other
// than /health and /control/* answer CODE, POST /control/heal undoes it (and
// the slow switch, slow.go).
const (
	defaultFailStatus = http.StatusServiceUnavailable
	minFailStatus     = 400
	maxFailStatus     = 599
	failingError      = "failing on purpose" // the echo's error field while failing
	maxControlBody    = 1 << 20
)

// backend is the demo HTTP handler. Its fields are set once when it is
// created and only read afterwards, except failStatus, which is atomic; so
// one backend serves requests concurrently.
type backend struct {
	name        string
	listen      string        // reported in every echo
	latency     time.Duration // added to every request but /health and /control/*
	errorRate   float64       // fraction of those requests answered with errorStatus
	errorStatus int
	// rnd returns a number in [0, 1). It is called from many request
	// goroutines at once, so it must be safe for concurrent use.
	rnd func() float64
	// log receives one line per change of the failure switch; nil: none.
	log *slog.Logger
	// failStatus is the status every request but /health and /control/*
	// gets (after the latency) while the failure switch is on; 0 while it
	// is off. It takes precedence over errorRate.
	failStatus atomic.Int32
	// slowDelay is the delay in nanoseconds that the slow switch adds to
	// latency (slow.go); 0 while it is off.
	slowDelay atomic.Int64
}

// echo is the JSON body of every response but /health and /control/*.
type echo struct {
	Instance    string `json:"instance"`
	Listen      string `json:"listen"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Host        string `json:"host"`
	Traceparent string `json:"traceparent"`
	Baggage     string `json:"baggage"`
	// Error is "injected" when -error-rate chose to fail this request, and
	// "failing on purpose" while the failure switch is on.
	Error string `json:"error,omitempty"`
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
		return
	}
	if r.URL.Path == "/control" || strings.HasPrefix(r.URL.Path, "/control/") {
		b.control(w, r)
		return
	}
	// Drain the body so the client's connection can be reused.
	io.Copy(io.Discard, r.Body)

	if !sleepCtx(r.Context(), b.latency+time.Duration(b.slowDelay.Load())) {
		return // the client went away while we were being slow
	}

	status := http.StatusOK
	e := echo{
		Instance:    b.name,
		Listen:      b.listen,
		Method:      r.Method,
		Path:        r.URL.Path,
		Host:        r.Host,
		Traceparent: r.Header.Get("traceparent"),
		Baggage:     r.Header.Get("baggage"),
	}
	if fail := b.failStatus.Load(); fail != 0 {
		status = int(fail)
		e.Error = failingError
	} else if b.errorRate > 0 && b.rnd() < b.errorRate {
		status = b.errorStatus
		e.Error = "injected"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}

// controlState is the JSON answer of POST /control/fail, /control/slow and
// /control/heal: the switches as they are now.
type controlState struct {
	Instance string `json:"instance"`
	Listen   string `json:"listen"`
	Failing  bool   `json:"failing"`
	Status   int    `json:"status,omitempty"` // what requests get while failing
	Delay    string `json:"delay,omitempty"`  // what the slow switch adds ("200ms"); empty while off
}

// control serves the failure switch. /health is not affected by it, so
// Consul's check keeps passing while the instance fails every real request:
// only passive detection (the sidecar watching real answers) notices.
func (b *backend) control(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, maxControlBody))
	if r.URL.Path != "/control/fail" && r.URL.Path != "/control/heal" && r.URL.Path != "/control/slow" {
		http.Error(w, "unknown control path; use POST /control/fail?status=CODE, POST /control/slow?delay=D or POST /control/heal", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, r.URL.Path+" takes POST", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/control/slow" {
		b.slow(w, r)
		return
	}
	status := 0
	if r.URL.Path == "/control/fail" {
		var err error
		if status, err = parseFailStatus(r.URL.Query().Get("status")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	} else {
		b.setSlow(0) // heal undoes both switches
	}
	if prev := int(b.failStatus.Swap(int32(status))); prev != status && b.log != nil {
		if status != 0 {
			b.log.Info("failure switch on: failing on purpose (/health still answers 200)", "status", status)
		} else {
			b.log.Info("failure switch off: answering normally again", "was", prev)
		}
	}
	b.writeState(w)
}

// writeState answers a control request with the switches as they are now.
func (b *backend) writeState(w http.ResponseWriter) {
	st := controlState{Instance: b.name, Listen: b.listen}
	if fail := int(b.failStatus.Load()); fail != 0 {
		st.Failing, st.Status = true, fail
	}
	if d := time.Duration(b.slowDelay.Load()); d > 0 {
		st.Delay = d.String()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// parseFailStatus reads the status query parameter of /control/fail; empty
// means 503.
func parseFailStatus(q string) (int, error) {
	if q == "" {
		return defaultFailStatus, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < minFailStatus || n > maxFailStatus {
		return 0, fmt.Errorf("status must be an HTTP error status (%d..%d), got %q", minFailStatus, maxFailStatus, q)
	}
	return n, nil
}

// sleepCtx waits for d, or less if ctx ends first; it reports whether the
// full wait elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
