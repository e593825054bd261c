package tracing

import "go.opentelemetry.io/otel/attribute"

// The span attributes and events of docs/contract.md ("Tracing"). HTTP and server
// names follow OpenTelemetry's semantic conventions.
const (
	AttrUpstream   = attribute.Key("outrigger.upstream")
	AttrRetries    = attribute.Key("outrigger.retries")
	AttrServerAddr = attribute.Key("server.address")
	AttrServerPort = attribute.Key("server.port")
	AttrMethod     = attribute.Key("http.request.method")
	AttrStatus     = attribute.Key("http.response.status_code")
	AttrErrorType  = attribute.Key("error.type")
	// On the span of a request a routing listener's route sent.
	AttrListener = attribute.Key("outrigger.listener")
	AttrRoute    = attribute.Key("outrigger.route")

	// Event attributes.
	AttrAttempt  = attribute.Key("outrigger.attempt")
	AttrEndpoint = attribute.Key("outrigger.endpoint")
	AttrReason   = attribute.Key("outrigger.reason")

	EventRetry      = "retry"
	EventLocalReply = "local_reply"
	EventEjection   = "outlier.ejection"
)
