package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// tickets returns the function each worker of a run calls before it sends
// a request: it blocks until the worker may send the next one and reports
// false once the run is over (c.requests sent, c.duration past, or ctx
// ended). It is safe for concurrent use by all the workers.
//
// Without c.rate a worker may send as soon as it has its previous answer
// (a closed loop: the faster the answers, the more requests). With c.rate
// the run is paced instead: request i is due i/c.rate seconds after start,
// whatever the answers' speed, which is what a balancer sees from steady
// traffic. A due request waits for a free worker; when the workers are all
// busy the requests fall behind and are sent as soon as workers free up, so
// their number is exact (c.rate × c.duration) and the run never has more
// than c.concurrency in flight.
func tickets(ctx context.Context, c loadConfig, start time.Time) (next func() bool) {
	if c.rate <= 0 {
		var issued atomic.Int64
		return func() bool {
			return ctx.Err() == nil && issued.Add(1) <= int64(c.requests) &&
				(c.duration <= 0 || time.Since(start) < c.duration)
		}
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch) // the workers' cue that the run is over
		t := time.NewTimer(0)
		defer t.Stop()
		for i := range c.requests {
			due := time.Duration(float64(i) / c.rate * float64(time.Second))
			if c.duration > 0 && due >= c.duration {
				return
			}
			if wait := due - time.Since(start); wait > 0 {
				t.Reset(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
			select {
			case ch <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() bool {
		_, ok := <-ch
		return ok && ctx.Err() == nil
	}
}

// describe is the first line of a run's table: what was sent, and how.
func (r *report) describe() string {
	switch {
	case r.Rate > 0 && r.DurationSeconds > 0:
		return fmt.Sprintf("%g requests a second for %gs to %s (up to %d at a time)", r.Rate, r.DurationSeconds, r.URL, r.Concurrency)
	case r.Rate > 0:
		return fmt.Sprintf("%d requests to %s at %g a second (up to %d at a time)", r.Requested, r.URL, r.Rate, r.Concurrency)
	case r.DurationSeconds > 0:
		return fmt.Sprintf("requests for %gs to %s with %d workers", r.DurationSeconds, r.URL, r.Concurrency)
	}
	return fmt.Sprintf("%d requests to %s with %d workers", r.Requested, r.URL, r.Concurrency)
}
