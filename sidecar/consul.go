package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/outrigger-mesh/outrigger/discovery"
	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// consulDeps is what the sidecar needs from Consul, built once for all
// upstreams: the client, and the snapshot file (nil when not configured).
type consulDeps struct {
	client   *api.Client
	snapshot *discovery.SnapshotFile
}

// newConsulClient builds the API client of the consul section. The config
// package has already folded CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN in;
// api.DefaultConfig still honours Consul's TLS variables (CONSUL_CACERT…).
func newConsulClient(c config.Consul) (*api.Client, error) {
	ac := api.DefaultConfig()
	ac.Address = c.Address
	ac.Scheme = c.Scheme
	ac.Token = c.Token
	ac.Datacenter = c.Datacenter
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	return client, nil
}

// consulDeps returns the shared Consul client, creating it on first use.
func (s *Sidecar) consul() (*consulDeps, error) {
	if s.consulDeps != nil {
		return s.consulDeps, nil
	}
	client, err := newConsulClient(s.cfg.Load().Consul)
	if err != nil {
		return nil, err
	}
	d := &consulDeps{client: client}
	if path := s.cfg.Load().Consul.SnapshotFile; path != "" {
		snap, err := discovery.OpenSnapshotFile(path)
		if err != nil {
			// Only a cache: start without it, and say so.
			s.log.Warn("ignoring the snapshot file", "key", "consul.snapshot_file", "error", err)
		}
		d.snapshot = snap
	}
	s.consulDeps = d
	return d, nil
}

// consulSource builds the watch of one upstream's service.
func (s *Sidecar) consulSource(uc config.Upstream) (discovery.Source, error) {
	d, err := s.consul()
	if err != nil {
		return nil, err
	}
	dc := uc.Datacenter
	if dc == "" {
		dc = s.cfg.Load().Consul.Datacenter
	}
	opts := discovery.ConsulOptions{
		Service:    uc.Service,
		Tags:       uc.Tags,
		Datacenter: dc,
		WaitTime:   s.cfg.Load().Consul.WaitTime,
		AllowStale: s.cfg.Load().Consul.AllowStale,
		Logger:     s.log,
		Upstream:   uc.Name,
		// passing_or_warning: warning instances too (docs/balancing.md)
		IncludeWarning: uc.Health == config.HealthPassingOrWarning,
	}
	if d.snapshot != nil {
		opts.Seed = d.snapshot.Get(uc.Name)
		opts.OnDeliver = func(set []discovery.Instance) {
			if err := d.snapshot.Save(uc.Name, set); err != nil {
				s.log.Warn("cannot write the snapshot file", "key", "consul.snapshot_file", "error", err)
			}
		}
	}
	var client discovery.HealthClient = d.client.Health()
	if s.cfg.Load().UpstreamConnect(&uc) {
		client = connectHealth{d.client.Health()} // the service's mesh proxies
	}
	return discovery.NewConsul(client, opts), nil
}

// registration is the local application as service.register describes it.
// With an inbound listener, its bound port is registered (the real one
// when inbound.listen asked for port 0), so peers come through it.
func (s *Sidecar) registration() discovery.Registration {
	svc := s.cfg.Load().Service
	port := s.cfg.Load().RegisteredPort()
	if s.inbound != nil {
		if _, p, err := net.SplitHostPort(s.inbound.up.ListenAddr()); err == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	cfg := s.cfg.Load()
	var proxy *discovery.ProxyRegistration
	if cfg.Connect.Enabled && s.inbound != nil {
		// In the mesh the application is registered at its own port (the
		// inbound listener takes only mTLS) and, with register_proxy, the
		// sidecar's mTLS listener as its connect-proxy, as Consul's own
		// sidecars are. The proxy's address is the inbound listener's
		// host, or the node's (empty) when it binds every interface.
		if cfg.Connect.RegisterProxy {
			host, _, _ := net.SplitHostPort(s.inbound.up.ListenAddr())
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				host = ""
			}
			proxy = &discovery.ProxyRegistration{
				ID: svc.ID + "-sidecar-proxy", Name: svc.Name + "-sidecar-proxy",
				Address: host, Port: port, Tags: svc.Tags, Meta: svc.Meta,
				DestinationID: svc.ID, DestinationName: svc.Name,
				LocalAddress: svc.Address, LocalPort: svc.Port,
			}
		}
		port = svc.Port
	}
	return discovery.Registration{
		Proxy:                   proxy,
		ID:                      svc.ID,
		Name:                    svc.Name,
		Address:                 svc.Address,
		Port:                    port,
		Tags:                    svc.Tags,
		Meta:                    svc.Meta,
		CheckHTTP:               svc.Check.HTTP,
		CheckInterval:           svc.Check.Interval.String(),
		CheckTimeout:            svc.Check.Timeout.String(),
		DeregisterCriticalAfter: svc.Check.DeregisterCriticalAfter.String(),
	}
}

// consulCallTimeout bounds a registration call, so an unreachable agent
// cannot hold up start-up retries or the shutdown.
const consulCallTimeout = 5 * time.Second

// registrar keeps the application registered: it retries with capped,
// jittered backoff while the agent is unreachable, and deregisters on
// request. Register runs on its own goroutine; Deregister is called once,
// at shutdown, after Register's context is cancelled.
type registrar struct {
	agent      discovery.AgentClient
	reg        discovery.Registration
	log        *slog.Logger
	registered chan struct{} // closed after the first successful registration
}

func (r *registrar) run(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, consulCallTimeout)
		err := discovery.Register(callCtx, r.agent, r.reg)
		cancel()
		if err == nil {
			r.log.Info("registered in consul", "service", r.reg.Name, "id", r.reg.ID,
				"address", r.reg.Address, "port", r.reg.Port)
			if p := r.reg.Proxy; p != nil {
				r.log.Info("registered in consul as its connect-proxy", "service", p.Name, "id", p.ID, "port", p.Port)
			}
			close(r.registered)
			return
		}
		if attempt == 1 {
			r.log.Warn("cannot register in consul; retrying", "service", r.reg.Name, "error", err)
		}
		d := min(250*time.Millisecond<<min(attempt-1, 6), 10*time.Second)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// deregister removes the registration if it was made, so peers stop
// sending before the drain begins.
func (r *registrar) deregister() {
	select {
	case <-r.registered:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), consulCallTimeout)
	defer cancel()
	if p := r.reg.Proxy; p != nil {
		// The proxy first: peers in the mesh stop choosing it.
		if err := discovery.Deregister(ctx, r.agent, p.ID); err != nil {
			r.log.Warn("cannot deregister the connect-proxy from consul", "id", p.ID, "error", err)
		}
	}
	if err := discovery.Deregister(ctx, r.agent, r.reg.ID); err != nil {
		r.log.Warn("cannot deregister from consul", "id", r.reg.ID, "error", err)
		return
	}
	r.log.Info("deregistered from consul", "id", r.reg.ID)
}
