// Package router is the request path of a routing listener
// (docs/routing.md): one address whose requests go to the upstream of the
// first route that matches them, by host, path, headers and method, or
// are split between several upstreams by weight.
//
// A config's routes are compiled once into an immutable Table (Compile);
// the listener's Handler holds the current table behind an atomic pointer
// that a reload swaps, so a request matches against one table from start
// to end and matching takes no lock. The chosen upstream serves the
// request through its own handler seat (proxy.Slot.ServeVia): the same
// request path as on its own listener.
package router
