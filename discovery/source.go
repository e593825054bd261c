// Package discovery finds the instances of an upstream service. A Source
// delivers the complete, current instance set of one upstream as events; the
// sidecar turns each set into a new balancing snapshot. The static list of
// `endpoints` and the Consul watch sit behind the same interface, so the rest
// of the sidecar never knows where its endpoints came from.
package discovery

import "context"

// Instance is one endpoint of an upstream as a source reports it.
type Instance struct {
	// Address is "host:port", the key the sidecar carries endpoint state by.
	Address string
	// ID is the source's name for the instance (the Consul service ID, or the
	// address for a static endpoint).
	ID string
	// Healthy is the source's view: true when its health checks pass (or,
	// with Warning, only warn).
	Healthy bool
	// Weight is the instance's relative share of requests (Consul's
	// Service.Weights); 0 means 1.
	Weight int
	// Warning: the instance's checks warn. Only a source asked for warning
	// instances (health: passing_or_warning) delivers one; the sidecar uses
	// it only while no passing instance is left.
	Warning bool
}

// Source delivers the instance sets of one upstream.
//
// Run is called once, from its own goroutine, and blocks until ctx is done.
// It calls update serially (never concurrently) with the complete set each
// time the set changes; the slice is owned by the receiver after the call.
// An empty set is delivered only when the source really has no instances,
// never because the source itself is unreachable: a source that cannot reach
// its backend keeps quiet (and reports the error through onError) so the last
// known set stays in force.
type Source interface {
	// Kind names the source for the admin API ("static", "consul").
	Kind() string
	Run(ctx context.Context, update func([]Instance), onError func(error))
}

// Fixed is implemented by a Source whose set is known up front and never
// changes (the static endpoints). The sidecar applies Initial before its
// listener serves, so the first request never finds "no endpoint" because
// a goroutine has not run yet, and it then runs no watch for it.
type Fixed interface {
	Source
	Initial() []Instance
}
