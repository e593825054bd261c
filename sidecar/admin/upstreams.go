package admin

import (
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/balancer"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// UpstreamsResponse is the body of GET /upstreams; the JSON names are
// the contract's (docs/contract.md) and users' scripts depend on them.
type UpstreamsResponse struct {
	Upstreams []UpstreamView `json:"upstreams"`
	// Listeners are the routing listeners with their routes, in config
	// order; [] without any.
	Listeners []router.View `json:"listeners"`
}

// UpstreamView is one upstream in GET /upstreams.
type UpstreamView struct {
	Name           string         `json:"name"`
	Listen         string         `json:"listen"`
	Protocol       string         `json:"protocol"`
	LB             string         `json:"lb"`
	Discovery      string         `json:"discovery"`
	LastUpdate     string         `json:"last_update"`
	Breaker        string         `json:"breaker"`
	ActiveRequests int64          `json:"active_requests"`
	Endpoints      []EndpointView `json:"endpoints"`
}

// EndpointView is one endpoint in GET /upstreams.
type EndpointView struct {
	Address        string `json:"address"`
	ID             string `json:"id"`
	Healthy        bool   `json:"healthy"`
	Ejected        bool   `json:"ejected"`
	EjectedUntil   string `json:"ejected_until"`
	EjectionReason string `json:"ejection_reason"`
	Ejections      int    `json:"ejections"`
	ActiveRequests int64  `json:"active_requests"`
	Requests       uint64 `json:"requests"`
	Failures       uint64 `json:"failures"`
	// Weight is discovery's relative share (Consul's Service.Weights, 1
	// without); Health is "passing" or "warning"; SlowStartUntil is when
	// the endpoint's slow-start ramp ends, "" when it is not ramping.
	Weight         int    `json:"weight"`
	Health         string `json:"health"`
	SlowStartUntil string `json:"slow_start_until"`
}

// rfc3339 formats t in UTC, "" for the zero time (docs/contract.md).
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func upstreamsView(ups []*upstream.Upstream, lns []*router.Handler) UpstreamsResponse {
	out := UpstreamsResponse{Upstreams: make([]UpstreamView, 0, len(ups)), Listeners: make([]router.View, 0, len(lns))}
	for _, l := range lns {
		out.Listeners = append(out.Listeners, l.View())
	}
	for _, u := range ups {
		cfg := u.Config()
		v := UpstreamView{
			Name:           u.Name(),
			Listen:         u.ListenAddr(),
			Protocol:       cfg.Protocol,
			LB:             cfg.LB,
			Discovery:      u.DiscoveryKind(),
			LastUpdate:     rfc3339(u.LastUpdate()),
			Breaker:        u.Breaker().State().String(),
			ActiveRequests: u.Stats().Active(),
			Endpoints:      []EndpointView{},
		}
		if s := u.Snapshot(); s != nil {
			for _, m := range s.Members {
				e := m.Endpoint
				v.Endpoints = append(v.Endpoints, EndpointView{
					Address:        e.Address,
					ID:             e.ID(),
					Healthy:        m.Healthy,
					Ejected:        e.Outlier.Ejected(),
					EjectedUntil:   rfc3339(e.Outlier.EjectedUntil()),
					EjectionReason: ejectionReason(e),
					Ejections:      e.Outlier.Ejections(),
					ActiveRequests: e.Active(),
					Requests:       e.Requests(),
					Failures:       e.Failures(),
					Weight:         m.Weight,
					Health:         health(m),
					SlowStartUntil: rfc3339(m.SlowStartUntil()),
				})
			}
		}
		out.Upstreams = append(out.Upstreams, v)
	}
	return out
}

// ejectionReason is the rule behind the current ejection, "" when the
// endpoint is in rotation (like ejected_until; the log keeps the history).
func ejectionReason(e *balancer.Endpoint) string {
	if !e.Outlier.Ejected() {
		return ""
	}
	return e.Outlier.Reason().String()
}

// health is the endpoint's Consul check status as the sidecar uses it.
func health(m upstream.Member) string {
	if m.Warning {
		return "warning"
	}
	return "passing"
}
