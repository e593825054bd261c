package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// backend is the demo HTTP handler. Its fields are set once by newBackend
// and only read afterwards, so one backend serves requests concurrently.
type backend struct {
	name        string
	listen      string        // reported in every echo
	latency     time.Duration // added to every non-health request
	errorRate   float64       // fraction of non-health requests answered with errorStatus
	errorStatus int
	// rnd returns a number in [0, 1). It is called from many request
	// goroutines at once, so it must be safe for concurrent use.
	rnd func() float64
}

// echo is the JSON body of every non-health response.
type echo struct {
	Instance    string `json:"instance"`
	Listen      string `json:"listen"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Host        string `json:"host"`
	Traceparent string `json:"traceparent"`
	Baggage     string `json:"baggage"`
	// Error is "injected" when -error-rate chose to fail this request.
	Error string `json:"error,omitempty"`
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
		return
	}
	// Drain the body so the client's connection can be reused.
	io.Copy(io.Discard, r.Body)

	if !sleepCtx(r.Context(), b.latency) {
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
	if b.errorRate > 0 && b.rnd() < b.errorRate {
		status = b.errorStatus
		e.Error = "injected"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
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
