// Package balancer holds the per-endpoint runtime state and the policies that
// pick one endpoint for a request. Policies are pure functions of a snapshot
// (an immutable slice of endpoints) plus atomics in the endpoints themselves,
// so picking takes no lock and allocates nothing (immutable snapshots, atomic counters, one small policy per file).
package balancer

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
)

// Endpoint is the runtime state of one upstream instance. It outlives the
// snapshots that point at it: when discovery reports a new set, endpoints
// whose address stays are carried over, so active counts, latency averages
// and counters survive updates. All fields are safe for concurrent use.
type Endpoint struct {
	// Address is "host:port"; it never changes for an Endpoint.
	Address string

	id       atomic.Pointer[string]
	addrHash uint64 // for ip_hash's rendezvous scores

	active   atomic.Int64  // requests in flight to this endpoint
	requests atomic.Uint64 // finished requests
	failures atomic.Uint64 // finished requests that failed (5xx or local failure)
	latency  peakEWMA
	codes    statuscount.Codes

	// Outlier is the endpoint's ejection state and detector counters; it
	// lives here so that it survives discovery updates with the endpoint.
	Outlier outlier.Host
}

// hashSeed is fixed for the process so that every upstream hashes a client
// key the same way; it holds no mutable state.
var hashSeed = maphash.MakeSeed()

// NewEndpoint returns the state for a newly discovered endpoint.
func NewEndpoint(address, id string) *Endpoint {
	e := &Endpoint{Address: address, addrHash: maphash.String(hashSeed, address)}
	e.SetID(id)
	e.Outlier.Init(address)
	return e
}

// ID is the discovery source's name for the endpoint.
func (e *Endpoint) ID() string { return *e.id.Load() }

// SetID records a new discovery ID for the same address.
func (e *Endpoint) SetID(id string) {
	if cur := e.id.Load(); cur == nil || *cur != id {
		// A fresh pointer only here: taking &id would move id to the heap
		// on every call, also for the unchanged endpoints of an update.
		p := new(string)
		*p = id
		e.id.Store(p)
	}
}

// Active is the number of requests in flight to the endpoint.
func (e *Endpoint) Active() int64 { return e.active.Load() }

// Requests is the number of finished requests.
func (e *Endpoint) Requests() uint64 { return e.requests.Load() }

// Failures is the number of finished requests that failed.
func (e *Endpoint) Failures() uint64 { return e.failures.Load() }

// Begin marks a request in flight. Every Begin is matched by one Finish.
func (e *Endpoint) Begin() { e.active.Add(1) }

// Finish ends a request begun with Begin. status is what the client got for
// this attempt (an upstream status, or the local reply's status); failed says
// whether it counts as a failure; latencyNanos and nowNanos feed peak-EWMA.
func (e *Endpoint) Finish(status int, failed bool, latencyNanos, nowNanos int64) {
	e.active.Add(-1)
	e.requests.Add(1)
	if failed {
		e.failures.Add(1)
	}
	e.codes.Inc(status)
	e.latency.observe(latencyNanos, nowNanos)
}

// EachCode calls fn for every status code with a non-zero count.
func (e *Endpoint) EachCode(fn func(code int, n uint64)) { e.codes.Each(fn) }

// LatencyEWMA is the current peak-EWMA latency estimate in nanoseconds
// (0 before the first response).
func (e *Endpoint) LatencyEWMA() float64 { return e.latency.value() }
