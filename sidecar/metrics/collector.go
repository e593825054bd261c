// Package metrics exposes the sidecar's counters in Prometheus format under
// the names of docs/contract.md. Nothing here runs on the request path: the request
// path bumps atomics in the upstream and endpoint state, and this collector
// reads them at scrape time, so serving a request never takes the lock a
// registry's metric vector would.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outrigger-mesh/outrigger/outlier"
	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

var (
	descRequests = prometheus.NewDesc("outrigger_upstream_requests_total",
		"Requests finished per upstream endpoint, by the status the client got for the attempt.",
		[]string{"upstream", "endpoint", "code"}, nil)
	descDuration = prometheus.NewDesc("outrigger_upstream_request_duration_seconds",
		"Time from receiving a request to finishing its response, all tries included.",
		[]string{"upstream"}, nil)
	descActive = prometheus.NewDesc("outrigger_upstream_active_requests",
		"Requests in flight on the upstream's listener.",
		[]string{"upstream"}, nil)
	descEndpoints = prometheus.NewDesc("outrigger_upstream_endpoints",
		"Endpoints of the upstream by state: healthy (discovery says passing and not ejected) or ejected.",
		[]string{"upstream", "state"}, nil)
	descLocalReplies = prometheus.NewDesc("outrigger_local_replies_total",
		"Responses the sidecar gave itself instead of an upstream, by reason.",
		[]string{"upstream", "reason"}, nil)
	descRetries = prometheus.NewDesc("outrigger_retries_total",
		"Retries sent to the upstream.",
		[]string{"upstream"}, nil)
	descDiscoveryUpdates = prometheus.NewDesc("outrigger_discovery_updates_total",
		"Endpoint sets delivered by discovery.",
		[]string{"upstream"}, nil)
	descDiscoveryErrors = prometheus.NewDesc("outrigger_discovery_errors_total",
		"Failed discovery attempts (the last known endpoints stay in use).",
		[]string{"upstream"}, nil)
	descEjections = prometheus.NewDesc("outrigger_outlier_ejections_total",
		"Outlier ejections per endpoint, by the rule that fired.",
		[]string{"upstream", "endpoint", "reason"}, nil)
	descBreaker = prometheus.NewDesc("outrigger_circuit_breaker_state",
		"The upstream's circuit breaker: 0 closed, 1 half-open, 2 open.",
		[]string{"upstream"}, nil)
	descListenerRequests = prometheus.NewDesc("outrigger_listener_requests_total",
		"Requests on a routing listener by route and the status sent (route \"\" for requests no route took; 499: the client got no status).",
		[]string{"listener", "route", "code"}, nil)
	descConnectDenied = prometheus.NewDesc("outrigger_connect_denied_total",
		"Inbound requests refused (403 forbidden) because Consul intentions deny their source service.",
		[]string{"source"}, nil)
	descLeafExpiry = prometheus.NewDesc("outrigger_connect_leaf_expiry_timestamp_seconds",
		"Unix time the mesh leaf certificate in use expires.",
		nil, nil)
	descDiscoveryLast = prometheus.NewDesc("outrigger_discovery_last_update_timestamp_seconds",
		"Unix time of the last endpoint set delivered by discovery (0 before the first).",
		[]string{"upstream"}, nil)
	descAccessLogDropped = prometheus.NewDesc("outrigger_access_log_dropped_total",
		"Access-log lines dropped rather than hold up a request: the queue was full (a slow disk) or a write failed (a full disk).",
		nil, nil)
)

// Collector reads the current upstreams and listeners at every scrape.
type Collector struct {
	src Source
}

// Source lists what is measured; its methods are called once per scrape,
// concurrently with reloads.
type Source interface {
	Upstreams() []*upstream.Upstream
	Listeners() []*router.Handler
	Mesh() *connect.Manager // nil without the mesh
	// Inbound is the inbound listener's upstream (the local app), nil
	// without one: only its local replies are reported, as upstream
	// "inbound" (a name no upstream may have).
	Inbound() *upstream.Upstream
	// AccessLogDropped is outrigger_access_log_dropped_total: it never
	// goes backwards, across reloads too.
	AccessLogDropped() uint64
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	return &Collector{src: src}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descActive, descEndpoints,
		descLocalReplies, descRetries, descDiscoveryUpdates, descDiscoveryErrors, descDiscoveryLast,
		descEjections, descBreaker, descListenerRequests, descConnectDenied, descLeafExpiry, descAccessLogDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectListeners(ch)
	ch <- prometheus.MustNewConstMetric(descAccessLogDropped, prometheus.CounterValue, float64(c.src.AccessLogDropped()))
	if in := c.src.Inbound(); in != nil {
		for r := range localreply.NumReasons {
			reason := localreply.Reason(r)
			ch <- prometheus.MustNewConstMetric(descLocalReplies, prometheus.CounterValue, float64(in.Stats().LocalReplies(reason)), "inbound", reason.String())
		}
	}
	if m := c.src.Mesh(); m != nil {
		m.EachDenied(func(source string, n uint64) {
			ch <- prometheus.MustNewConstMetric(descConnectDenied, prometheus.CounterValue, float64(n), source)
		})
		if id := m.Identity(); id != nil {
			ch <- prometheus.MustNewConstMetric(descLeafExpiry, prometheus.GaugeValue, float64(id.NotAfter.Unix()))
		}
	}
	for _, u := range c.src.Upstreams() {
		name := u.Name()
		st := u.Stats()
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}

		count, sum, buckets := st.Duration.Snapshot()
		ch <- prometheus.MustNewConstHistogram(descDuration, count, sum, buckets, name)
		gauge(descActive, float64(st.Active()), name)
		for r := range localreply.NumReasons {
			reason := localreply.Reason(r)
			counter(descLocalReplies, st.LocalReplies(reason), name, reason.String())
		}
		counter(descRetries, st.Retries(), name)
		counter(descDiscoveryUpdates, st.DiscoveryUpdates(), name)
		counter(descDiscoveryErrors, st.DiscoveryErrors(), name)
		var last float64
		if t := u.LastUpdate(); !t.IsZero() {
			last = float64(t.UnixNano()) / 1e9
		}
		gauge(descDiscoveryLast, last, name)
		gauge(descBreaker, float64(u.Breaker().State()), name)

		healthy, ejected := 0, 0
		if s := u.Snapshot(); s != nil {
			for _, m := range s.Members {
				e := m.Endpoint
				switch {
				case e.Outlier.Ejected():
					ejected++
				case m.Healthy:
					healthy++
				}
				e.EachCode(func(code int, n uint64) {
					counter(descRequests, n, name, e.Address, strconv.Itoa(code))
				})
				for r := 1; r < outlier.NumReasons; r++ {
					reason := outlier.Reason(r)
					if n := e.Outlier.EjectionsTotal(reason); n > 0 {
						counter(descEjections, n, name, e.Address, reason.String())
					}
				}
			}
		}
		gauge(descEndpoints, float64(healthy), name, "healthy")
		gauge(descEndpoints, float64(ejected), name, "ejected")
	}
}

// Handler serves /metrics: the sidecar's metrics plus the Go runtime and
// process ones (memory, CPU, file descriptors), from a registry of its own
// (no package-level default registry).
func Handler(c *Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), nil
}

// collectListeners reports each routing listener's requests by route and
// status, and the local replies the listeners gave themselves (no_route,
// a refused request) under upstream="": no upstream was chosen.
func (c *Collector) collectListeners(ch chan<- prometheus.Metric) {
	lns := c.src.Listeners()
	if len(lns) == 0 {
		return
	}
	var replies [localreply.NumReasons]uint64
	for _, h := range lns {
		h.EachCount(func(route string, code int, n uint64) {
			ch <- prometheus.MustNewConstMetric(descListenerRequests, prometheus.CounterValue, float64(n), h.Name(), route, strconv.Itoa(code))
		})
		for r := range localreply.NumReasons {
			replies[r] += h.LocalReplies(localreply.Reason(r))
		}
	}
	for _, r := range []localreply.Reason{localreply.NoRoute, localreply.BadRequest} {
		ch <- prometheus.MustNewConstMetric(descLocalReplies, prometheus.CounterValue, float64(replies[r]), "", r.String())
	}
}
