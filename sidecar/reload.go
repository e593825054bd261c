package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Reload applies a new, valid config without dropping in-flight requests:
//
//   - an upstream whose settings did not change keeps running untouched
//     (its endpoints, counters and ejections stay);
//   - a changed upstream gets a new runtime (policy, breaker, detector,
//     discovery, handler); with the same listen address and protocol the
//     listener's server and its client connections stay, and only the
//     handler they call is swapped: a keep-alive connection's next request
//     goes to the new handler while requests in flight finish on the old
//     one, within drain_timeout. With the same address but another
//     protocol, the new server takes over the bound socket, so no
//     connection is refused, while the old one drains what it has;
//   - a new listen address is bound before anything changes; the old one is
//     closed and drained;
//   - a removed upstream's port is closed and its in-flight work drained;
//   - an added upstream starts serving;
//   - every routing listener's table is compiled anew (over the new
//     upstreams) and swapped in: requests already matched finish on the
//     old table and the old upstream handlers. A listener on the same
//     address and protocol keeps its server and connections; otherwise its
//     port is taken over, or a new one bound, as for upstreams;
//   - a changed access_log is opened before anything changes and swapped
//     in; the old log writes what was queued for it, then closes
//     (accesslog.go).
//
// Reload waits until Run has started serving. Only `upstreams`,
// `listeners` and `access_log` are reloaded. Changes elsewhere (service,
// inbound, consul, tracing, admin, log, limits, drain_timeout) need a
// restart; they are
// ignored, and the returned warnings say which. If any new address cannot
// be bound, nothing changes and the error says why.
func (s *Sidecar) Reload(next *config.Config) (warnings []string, err error) {
	// A reload that came before Run started the routes (a SIGHUP at
	// start-up) waits for it: it replaces routes that Run is about to
	// start.
	<-s.started
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return nil, errors.New("shutting down; reload ignored")
	}
	cur := s.cfg.Load()
	eff := *cur
	eff.Upstreams = next.Upstreams
	eff.Listeners = next.Listeners
	eff.AccessLog = next.AccessLog
	eff.File = next.File
	for _, sec := range []struct {
		name      string
		old, next any
	}{
		{"service", cur.Service, next.Service}, {"inbound", cur.Inbound, next.Inbound},
		{"consul", cur.Consul, next.Consul}, {"tracing", cur.Tracing, next.Tracing},
		{"admin", cur.Admin, next.Admin}, {"log", cur.Log, next.Log}, {"limits", cur.Limits, next.Limits},
		{"drain_timeout", cur.DrainTimeout, next.DrainTimeout}, {"connect", cur.Connect, next.Connect},
	} {
		if !reflect.DeepEqual(sec.old, sec.next) {
			warnings = append(warnings, sec.name+": changed, but only upstreams, listeners and access_log are reloaded; restart to apply it")
		}
	}

	// Build every new or changed route first, binding new addresses, so a
	// failure leaves the running config untouched.
	fresh := map[string]*route{}
	var built []*listener
	var bound []*port
	fail := func(e error) ([]string, error) {
		for _, r := range fresh {
			r.discard()
		}
		for _, l := range built {
			l.discard()
		}
		for _, p := range bound {
			p.Close()
		}
		return warnings, e
	}
	for i, uc := range next.Upstreams {
		old := s.routes[uc.Name]
		if old != nil && reflect.DeepEqual(old.up.Config(), uc) {
			continue
		}
		r, err := s.newRoute(fmt.Sprintf("upstreams[%d]", i), uc, false, old)
		if err != nil {
			return fail(err)
		}
		if r.port != nil && (old == nil || r.port != old.port) {
			bound = append(bound, r.port)
		}
		fresh[uc.Name] = r
	}
	routes := make(map[string]*route, len(next.Upstreams))
	for _, uc := range next.Upstreams {
		if r := fresh[uc.Name]; r != nil {
			routes[uc.Name] = r
		} else {
			routes[uc.Name] = s.routes[uc.Name]
		}
	}
	prevOf := s.listenerPredecessors(next.Listeners)
	lst := make([]*listener, 0, len(next.Listeners))
	for i, lc := range next.Listeners {
		old := prevOf[lc.Name]
		l, err := s.newListener(fmt.Sprintf("listeners[%d]", i), lc, routes, old)
		if err != nil {
			return fail(err)
		}
		built = append(built, l)
		if old == nil || l.port != old.port {
			bound = append(bound, l.port)
		}
		lst = append(lst, l)
	}

	nextLog, logChanged, err := s.prepareAccessLog(cur.AccessLog, next.AccessLog)
	if err != nil {
		return fail(err)
	}

	// Swap: new routes take over, then the listeners' new tables that
	// point at them; only then do replaced and removed ones drain, so a
	// request that matched in an old table still finds its upstream's
	// handler counted in flight.
	drainCtx, cancel := context.WithTimeout(context.Background(), cur.DrainTimeout)
	var batch sync.WaitGroup // this reload's retirements, for cancel
	var retirements []func()
	keep := map[string]bool{}
	order := make([]string, 0, len(next.Upstreams))
	for _, uc := range next.Upstreams {
		keep[uc.Name] = true
		order = append(order, uc.Name)
		old := s.routes[uc.Name]
		r, changed := fresh[uc.Name]
		if !changed {
			continue
		}
		r.start(s.log, old)
		switch {
		case old == nil:
			s.log.Info("upstream added", "upstream", uc.Name, "listen", r.up.ListenAddr())
		case old.port == r.port: // the same address, or none (routes only)
			s.log.Info("upstream changed", "upstream", uc.Name, "listen", r.up.ListenAddr())
			retirements = append(retirements, func() { s.retire(drainCtx, &batch, old, false) })
		default:
			s.log.Info("upstream moved", "upstream", uc.Name, "from", old.up.ListenAddr(), "to", r.up.ListenAddr())
			retirements = append(retirements, func() { s.retire(drainCtx, &batch, old, true) })
		}
	}
	for name, old := range s.routes {
		if !keep[name] {
			s.log.Info("upstream removed", "upstream", name, "listen", old.up.ListenAddr())
			retirements = append(retirements, func() { s.retire(drainCtx, &batch, old, true) })
		}
	}
	succeeded := map[*listener]bool{}
	for _, l := range lst {
		old := prevOf[l.cfg.Name]
		l.start(old)
		switch {
		case old == nil:
			s.log.Info("listener added", "listener", l.cfg.Name, "listen", l.port.Addr().String(), "routes", len(l.cfg.Routes))
		case l.kept:
			succeeded[old] = true
			if !reflect.DeepEqual(old.cfg, l.cfg) {
				s.log.Info("listener routes changed", "listener", l.cfg.Name, "routes", len(l.cfg.Routes))
			}
		default:
			succeeded[old] = true
			s.log.Info("listener replaced", "listener", l.cfg.Name, "was", old.cfg.Name, "listen", l.port.Addr().String(), "protocol", l.cfg.Protocol)
			retirements = append(retirements, func() { s.retireListener(drainCtx, &batch, old, old.port != l.port) })
		}
	}
	for _, old := range s.lst {
		if !succeeded[old] {
			s.log.Info("listener removed", "listener", old.cfg.Name, "listen", old.port.Addr().String())
			retirements = append(retirements, func() { s.retireListener(drainCtx, &batch, old, true) })
		}
	}
	for _, retire := range retirements {
		retire()
	}
	go func() { batch.Wait(); cancel() }()
	s.routes, s.order, s.lst = routes, order, lst
	s.publishUpstreams()
	if logChanged {
		s.swapAccessLog(nextLog, next.AccessLog)
	}
	s.cfg.Store(&eff)
	s.log.Info("config reloaded", "file", next.File, "upstreams", len(order), "listeners", len(lst), "ignored_sections", len(warnings))
	return warnings, nil
}

// listenerPredecessors maps each listener of next to the running one it
// replaces: the one of the same name, or else one on the same address
// whose name next no longer has (a renamed listener takes its port over
// rather than failing to bind it).
func (s *Sidecar) listenerPredecessors(next []config.Listener) map[string]*listener {
	out := map[string]*listener{}
	names := map[string]bool{}
	for _, lc := range next {
		names[lc.Name] = true
	}
	byName := map[string]*listener{}
	for _, l := range s.lst {
		byName[l.cfg.Name] = l
	}
	claimed := map[*listener]bool{}
	for _, lc := range next {
		if old := byName[lc.Name]; old != nil {
			out[lc.Name], claimed[old] = old, true
		}
	}
	for _, lc := range next {
		if out[lc.Name] != nil {
			continue
		}
		for _, old := range s.lst {
			if !claimed[old] && !names[old.cfg.Name] && old.cfg.Listen == lc.Listen && !portZero(lc.Listen) {
				out[lc.Name], claimed[old] = old, true
				break
			}
		}
	}
	return out
}

// portZero reports whether addr asks for any free port (each bind gets
// its own, so two such listeners are never the same socket).
func portZero(addr string) bool {
	_, p, err := net.SplitHostPort(addr)
	return err != nil || p == "0"
}

// retire stops a replaced or removed route's watch and drains it in the
// background (its server, or only its handler when the successor adopted
// the server); closePort also closes its address (removed or moved).
func (s *Sidecar) retire(ctx context.Context, batch *sync.WaitGroup, r *route, closePort bool) {
	r.stopWatching()
	if closePort && r.port != nil {
		r.port.Close()
	}
	s.retiring.Add(1) // s.mu is held: drain's Wait cannot run meanwhile
	batch.Add(1)
	go func() {
		defer s.retiring.Done()
		defer batch.Done()
		start := time.Now()
		if err := r.drain(ctx); err != nil {
			s.log.Warn("retired upstream still had requests in flight after drain_timeout; they finish on their own, bounded by timeout and limits.stream_idle_timeout",
				"upstream", r.up.Name(), "error", err)
			return
		}
		s.log.Info("retired upstream drained", "upstream", r.up.Name(), "took", time.Since(start).Round(time.Millisecond).String())
	}()
}

// retireListener drains a replaced or removed listener's server in the
// background; closePort also closes its address.
func (s *Sidecar) retireListener(ctx context.Context, batch *sync.WaitGroup, l *listener, closePort bool) {
	if closePort {
		l.port.Close()
	}
	s.retiring.Add(1)
	batch.Add(1)
	go func() {
		defer s.retiring.Done()
		defer batch.Done()
		if err := l.drain(ctx); err != nil {
			s.log.Warn("retired listener still had requests in flight after drain_timeout", "listener", l.cfg.Name, "error", err)
		}
	}()
}
