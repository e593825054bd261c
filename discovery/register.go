package discovery

import (
	"cmp"
	"context"
	"net"
	"strconv"

	"github.com/hashicorp/consul/api"
)

// AgentClient is the part of Consul's agent API that registration uses,
// narrowed from *api.Agent to the calls made, so tests can script it.
type AgentClient interface {
	ServiceRegisterOpts(reg *api.AgentServiceRegistration, opts api.ServiceRegisterOpts) error
	ServiceDeregisterOpts(serviceID string, q *api.QueryOptions) error
}

// Registration describes the local application for Consul.
type Registration struct {
	ID, Name, Address string
	Port              int
	Tags              []string
	Meta              map[string]string
	// CheckHTTP is the health check URL; empty means a TCP check on
	// Address:Port.
	CheckHTTP                   string
	CheckInterval, CheckTimeout string // Go durations, as Consul takes them
	DeregisterCriticalAfter     string
	// Proxy, when set, is registered too: this sidecar as the service's
	// mesh proxy (connect.register_proxy).
	Proxy *ProxyRegistration
}

// ProxyRegistration is a connect-proxy service in front of the
// application: what Envoy, Consul's built-in proxy and other Outriggers
// find through /v1/health/connect/<service>.
type ProxyRegistration struct {
	ID, Name, Address string // Name: "<service>-sidecar-proxy", as Consul names them; Address "" = the node's
	Port              int    // the inbound (mTLS) listener's
	// The service's tags and meta, so that a peer's tag filter finds the
	// proxy (/v1/health/connect filters on the proxy's tags).
	Tags []string
	Meta map[string]string
	// The application behind it.
	DestinationID, DestinationName string
	LocalAddress                   string
	LocalPort                      int
}

// Register registers the application and its check with the local agent,
// replacing the checks of an earlier registration with the same ID (a
// restarted sidecar).
func Register(ctx context.Context, agent AgentClient, r Registration) error {
	check := &api.AgentServiceCheck{
		Interval:                       r.CheckInterval,
		Timeout:                        r.CheckTimeout,
		DeregisterCriticalServiceAfter: r.DeregisterCriticalAfter,
	}
	if r.CheckHTTP != "" {
		check.HTTP = r.CheckHTTP
		check.Name = "outrigger http check of " + r.Name
	} else {
		check.TCP = net.JoinHostPort(r.Address, strconv.Itoa(r.Port))
		check.Name = "outrigger tcp check of " + r.Name
	}
	reg := &api.AgentServiceRegistration{
		ID:      r.ID,
		Name:    r.Name,
		Address: r.Address,
		Port:    r.Port,
		Tags:    r.Tags,
		Meta:    r.Meta,
		Check:   check,
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := agent.ServiceRegisterOpts(reg, opts); err != nil {
		return err
	}
	if p := r.Proxy; p != nil {
		proxy := &api.AgentServiceRegistration{
			Kind:    api.ServiceKindConnectProxy,
			ID:      p.ID,
			Name:    p.Name,
			Address: p.Address,
			Port:    p.Port,
			Tags:    p.Tags,
			Meta:    p.Meta,
			Proxy: &api.AgentServiceConnectProxyConfig{
				DestinationServiceName: p.DestinationName,
				DestinationServiceID:   p.DestinationID,
				LocalServiceAddress:    p.LocalAddress,
				LocalServicePort:       p.LocalPort,
			},
			Checks: api.AgentServiceChecks{
				{
					Name:                           "outrigger tcp check of " + p.Name,
					TCP:                            net.JoinHostPort(cmp.Or(p.Address, r.Address), strconv.Itoa(p.Port)),
					Interval:                       r.CheckInterval,
					Timeout:                        r.CheckTimeout,
					DeregisterCriticalServiceAfter: r.DeregisterCriticalAfter,
				},
				// The proxy is as healthy as the application behind it:
				// peers stop choosing it when the app's own check fails.
				{Name: "application " + p.DestinationID, AliasService: p.DestinationID},
			},
		}
		return agent.ServiceRegisterOpts(proxy, opts)
	}
	return nil
}

// Deregister removes the registration with id from the local agent.
func Deregister(ctx context.Context, agent AgentClient, id string) error {
	return agent.ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
}
