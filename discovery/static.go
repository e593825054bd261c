package discovery

import "context"

// Static is a Source with a fixed instance list (the upstream's `endpoints`).
type Static struct {
	instances []Instance
}

var _ Fixed = (*Static)(nil)

// NewStatic returns a source that reports addrs, all healthy and passing
// with weight 1, once.
func NewStatic(addrs []string) *Static {
	s := &Static{instances: make([]Instance, len(addrs))}
	for i, a := range addrs {
		s.instances[i] = Instance{Address: a, ID: a, Healthy: true, Weight: 1}
	}
	return s
}

// Kind implements Source.
func (s *Static) Kind() string { return "static" }

// Initial returns the set before Run starts, so the sidecar can apply it
// before its listener accepts anything: a request arriving in the first
// microseconds must not find "no endpoint" just because a goroutine has not
// run yet.
func (s *Static) Initial() []Instance { return append([]Instance(nil), s.instances...) }

// Run implements Source: one update, then it waits for ctx.
func (s *Static) Run(ctx context.Context, update func([]Instance), _ func(error)) {
	update(append([]Instance(nil), s.instances...))
	<-ctx.Done()
}
