// Package outlier is passive outlier detection for one upstream's endpoints
// (docs/contract.md, upstreams[].outlier): it watches the outcome of every attempt
// and takes an endpoint out of rotation ("ejects" it) for a while when it
// keeps failing.
//
// # Shape
//
// Each endpoint's runtime object embeds a Host, so the endpoint's history
// survives discovery updates. One Detector per upstream holds the config.
// The request path calls Detector.Record with the attempt's Outcome; this
// bumps atomic counters and nothing else, unless a consecutive counter just
// reached its threshold. The owner's ticker calls Detector.Sweep every
// interval, and the discovery loop calls Detector.SetHosts with the healthy
// endpoints. Whenever one of these reports a change (SetHosts always counts
// as one), the owner rebuilds its balancing snapshot without the ejected
// hosts (Host.Ejected). The package starts no goroutines and has no
// package-level state; time comes from Options.Now.
//
// # When a host is ejected
//
//   - consecutive_5xx (0 disables): that many Upstream5xx in a row. A
//     Success ends the run; a LocalFailure neither counts nor ends it.
//   - consecutive_local_failure (0 disables): that many LocalFailure
//     (connect failure, reset, timeout) in a row. A Success or an
//     Upstream5xx (the connection worked) ends the run.
//   - failure_percentage (0 disables): at a Sweep, a host whose failures
//     (Upstream5xx and LocalFailure) were at least failure_percentage % of
//     its requests (Success, Upstream5xx, LocalFailure) since the previous
//     Sweep, on at least failure_percentage_min_requests requests (and at
//     least one). Every host's window then starts again from zero.
//   - latency_factor (0 disables, else > 1): at a Sweep, a host whose mean
//     latency over the interval's answers (Success and Upstream5xx, with the
//     latency Record was given) is above latency_factor × the median of the
//     other hosts' means. Only hosts in rotation with at least
//     failure_percentage_min_requests answers (and at least one) are judged
//     or serve as others; with none other, nothing is ejected. Local
//     failures and Unmeasured attempts (tunnels) add no time. See latency.go.
//
// Ignored outcomes (a client that went away) count for nothing. The first
// two rules eject at the moment the run reaches the threshold, the last two
// only at a Sweep (failure_percentage's candidates first). A host is ejected only if it is in the current SetHosts
// list and the max_ejection_percent rule allows it (see MaxEjected): at most
// floor(n × pct / 100) of the n listed hosts may be ejected at once, but at
// least one when n >= 2 and never the last one in rotation (n-1 at most; a
// single endpoint is never ejected). When the rule refuses, the host stays in
// rotation and is logged once at Debug for this run of refusals. Whether
// ejected or refused, the host's consecutive counters restart at zero, so it
// takes a fresh run of failures to try again.
//
// An ejection lasts base_ejection_time × n, capped at max_ejection_time,
// where n is the host's ejection count including this ejection.
//
// # When it comes back
//
// At the first Sweep at or after EjectedUntil, with fresh counters, so
// Sweeps should come every interval. It also comes back early, soonest due
// first, when SetHosts shrinks the set below what the ejected hosts need.
// After base_ejection_time back in rotation without a new ejection, and
// again after every further base_ejection_time, its ejection count drops by
// one: a host that stays healthy is forgiven step by step, one that keeps
// failing is ejected for longer each time.
//
// # Logs
//
// One Info line per ejection ("outlier ejected endpoint": upstream,
// endpoint, reason, the rule's counter and value — for latency mean_ms,
// median_ms, factor and requests —, ejections, until) and per
// return ("outlier endpoint returned": upstream, endpoint, ejections,
// ejected_for); a Debug line per refusal run ("outlier ejection refused").
// Nothing is logged per request.
package outlier
