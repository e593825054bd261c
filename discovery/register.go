package discovery

import (
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
	return agent.ServiceRegisterOpts(reg, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx))
}

// Deregister removes the registration with id from the local agent.
func Deregister(ctx context.Context, agent AgentClient, id string) error {
	return agent.ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
}
