package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// getTimeout bounds one GET of getJSON, so that a stalled answer costs one
// attempt of a poll rather than the whole wait.
const getTimeout = 5 * time.Second

// pollUntil calls check, then again every interval, until check reports
// done (nil) or ctx ends (ctx's error). check keeps what it saw itself, so
// that each caller words its own timeout message.
func pollUntil(ctx context.Context, interval time.Duration, check func(context.Context) (done bool)) error {
	for {
		if check(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// getStatusError is a GET answered with a status other than 200; callers
// look at code where one status means something (Jaeger's 404: not yet).
type getStatusError struct {
	path   string
	code   int
	status string
}

func (e *getStatusError) Error() string { return "GET " + e.path + ": " + e.status }

// getJSON GETs base+path and decodes a 200 answer of at most limit bytes
// into out. Its errors name the path, not the base, which the caller's
// flags already named.
func getJSON(ctx context.Context, client *http.Client, base, path string, limit int64, out any) error {
	ctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &getStatusError{path, resp.StatusCode, resp.Status}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
