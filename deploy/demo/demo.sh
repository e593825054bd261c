#!/usr/bin/env bash
# Outrigger demo: a Consul dev agent, Jaeger, three instances of a
# "payments" service that register themselves in Consul (one of them slow),
# and one sidecar, "web", that finds them in Consul and balances by least
# connections. Under more load the sidecar ejects the slow instance for its
# latency; healed, it comes back with slow start, its share of the traffic
# ramping up over 10s. Then one instance starts failing while its health
# check still passes: the sidecar retries its failures elsewhere, ejects it
# (passive outlier detection) and takes it back once it is healed and its
# ejection time is over. Then one instance deregisters and the sidecar stops
# sending it traffic. Then a second sidecar, "payments", goes in front of one
# instance, and one request is followed through both sidecars in Jaeger.
# Last, an "edge" sidecar's routing listener sends /api/* on one host to
# three instances, a header to a canary, and the rest 90/10 between two
# tagged versions of one service, moved to 50/50 by a reload under load.
# Run it with `make demo` (which builds bin/ first, bin/consul and
# bin/jaeger included). It needs only bash and the four binaries: no curl,
# no jq, no Docker. DEMO_HOLD=1 makes it wait for Enter before it stops
# everything, so that the trace can be looked at in Jaeger.
#
# Everything listens on 127.0.0.1 on free ports, lives in a temp dir, and is
# stopped and removed when the script exits, whether it succeeds or not.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/bin
START_TIMEOUT=20  # seconds to wait for each process to become ready
STOP_TIMEOUT=30   # seconds to wait for each process to exit after SIGTERM
OUTLIER_TIMEOUT=30 # seconds to wait for an ejection, or a return from one

for b in outrigger demo-service consul jaeger; do
	if [[ ! -x $BIN/$b ]]; then
		echo "demo: $BIN/$b is missing; run 'make demo' (or 'make build tools' first)" >&2
		exit 1
	fi
done

# The demo's config must be the one in force: drop the user's overrides
# (the sidecar honours CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN and the OTEL_*
# variables too).
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(OUTRIGGER|CONSUL|OTEL)_' || true)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrigger-demo.XXXXXX")
PIDS=() # every process we started and has not been stopped yet

cleanup() {
	local rc=$? i waited
	trap - EXIT INT TERM
	for i in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$i]}" 2>/dev/null || true
	done
	for i in "${!PIDS[@]}"; do
		waited=0
		stop_wait "${PIDS[$i]}" 5 || waited=$?
		((waited != 124)) || kill -KILL "${PIDS[$i]}" 2>/dev/null || true
	done
	if ((rc != 0)); then
		echo >&2
		echo "demo FAILED (exit $rc). Last lines of each log:" >&2
		for f in "$TMP"/*.log; do
			[[ -e $f ]] || continue
			echo "--- $(basename "$f")" >&2
			tail -n 15 "$f" >&2
		done
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
say() { printf '   %s\n' "$*"; }
fail() {
	echo "demo: $*" >&2
	exit 1
}

# start NAME CMD...: runs CMD in the background, logging to $TMP/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# http_status HOST:PORT PATH: prints the status code of a GET, using bash's
# /dev/tcp so that curl is not needed. Fails when nothing answers.
http_status() {
	local addr=$1 path=$2 line
	{ exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"; } 2>/dev/null || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$addr" >&3 2>/dev/null || true
	IFS= read -r -t 2 line <&3 || line=""
	exec 3>&- 3<&-
	[[ $line =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]] || return 1
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# http_body HOST:PORT PATH [HEADER...]: prints the body of a GET that
# answers 200, like http_status; each HEADER ("Name: value") is sent with
# the request ("Host: name" replaces the Host). Fails when nothing answers
# or the status is not 200.
http_body() {
	local addr=$1 path=$2 resp="" headers="" h host=$1
	shift 2
	for h in "$@"; do
		if [[ ${h,,} == host:* ]]; then
			host=${h#*: }
		else
			headers+="$h"$'\r\n'
		fi
	done
	{ exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"; } 2>/dev/null || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n%s\r\n' "$path" "$host" "$headers" >&3 2>/dev/null || true
	IFS= read -r -d '' -t 2 resp <&3 || true # reads up to EOF (or 2s)
	exec 3>&- 3<&-
	[[ $resp =~ ^HTTP/[0-9.]+\ 200 ]] || return 1
	printf '%s\n' "${resp#*$'\r\n\r\n'}"
}

# wait_leader PID HOST:PORT: polls Consul's /v1/status/leader until it names
# a leader ("127.0.0.1:8300" rather than ""), the agent dies, or
# START_TIMEOUT passes.
wait_leader() {
	local pid=$1 addr=$2 body=""
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		body=$(http_body "$addr" /v1/status/leader) || body=""
		if [[ $body =~ ^\"[^\"]+\" ]]; then
			say "consul: leader $body"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "consul exited before it had a leader"
		sleep 0.1 # poll interval
	done
	fail "consul had no leader within ${START_TIMEOUT}s (last: ${body:-no answer})"
}

# wait_200 WHAT PID HOST:PORT PATH: polls until GET PATH answers 200, the
# process dies, or START_TIMEOUT passes.
wait_200() {
	local what=$1 pid=$2 addr=$3 path=$4 code=""
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		code=$(http_status "$addr" "$path") || code=""
		if [[ $code == 200 ]]; then
			say "$what: GET http://$addr$path -> 200"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
		sleep 0.1 # poll interval
	done
	fail "$what: GET http://$addr$path was not 200 within ${START_TIMEOUT}s (last: ${code:-no answer})"
}

# wait_status ADDR PATH WANT: polls until GET PATH answers WANT (or START_TIMEOUT).
wait_status() {
	local addr=$1 path=$2 want=$3 code="" start=$SECONDS
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		code=$(http_status "$addr" "$path") || code=""
		if [[ $code == "$want" ]]; then
			say "GET http://$addr$path -> $code (after $((SECONDS - start))s)"
			return 0
		fi
		sleep 0.05 # poll interval
	done
	fail "GET http://$addr$path was not $want within ${START_TIMEOUT}s (last: ${code:-no answer})"
}

# wait_tcp WHAT PID HOST:PORT: polls until HOST:PORT accepts a connection,
# the process dies, or START_TIMEOUT passes.
wait_tcp() {
	local what=$1 pid=$2 addr=$3
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if { exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"; } 2>/dev/null; then
			exec 3>&- 3<&-
			say "$what: $addr accepts connections"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
		sleep 0.1 # poll interval
	done
	fail "$what: nothing accepted connections on $addr within ${START_TIMEOUT}s"
}

# random_hex N: prints N random bytes as lower-case hex.
random_hex() {
	od -An -tx1 -N "$1" /dev/urandom | tr -d ' \n'
}

# stop_wait PID SECONDS: waits (after a signal was sent) for PID to exit and
# returns its exit code; returns 124 if it is still running at the deadline.
stop_wait() {
	local pid=$1 deadline=$((SECONDS + $2)) rc=0
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < deadline)) || return 124
		sleep 0.05 # poll interval
	done
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# stop NAME PID [WANT]: SIGTERM, then require exit code WANT (default 0).
stop() {
	local name=$1 pid=$2 want=${3:-0} rc=0
	kill -TERM "$pid"
	stop_wait "$pid" "$STOP_TIMEOUT" || rc=$?
	((rc != 124)) || fail "$name did not exit within ${STOP_TIMEOUT}s of SIGTERM"
	((rc == want)) || fail "$name exited $rc after SIGTERM, want $want"
	say "$name exited $rc"
	forget "$pid"
}

# wait_log FILE TEXT...: polls FILE until a line contains every TEXT (fixed
# strings), then prints the part of the last such line from "msg=" on.
# Returns 1 if there is none after START_TIMEOUT.
wait_log() {
	local file=$1 line="" t
	shift
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		line=$(grep -F -- "$1" "$file") || line=""
		for t in "${@:2}"; do
			line=$(grep -F -- "$t" <<<"$line") || line=""
		done
		if [[ -n $line ]]; then
			line=$(tail -n 1 <<<"$line")
			printf '%s\n' "msg=${line#*msg=}"
			return 0
		fi
		sleep 0.1 # poll interval
	done
	return 1
}

# route_requests ADMIN ROUTE: prints how many requests the routing
# listener's route has taken, all codes, from the admin API's /metrics.
route_requests() {
	local metrics n=0 line
	metrics=$(http_body "$1" /metrics) || fail "GET http://$1/metrics did not answer 200"
	while read -r line; do
		n=$((n + ${line##* }))
	done < <(grep -E "^outrigger_listener_requests_total\{[^}]*route=\"$2\"" <<<"$metrics")
	printf '%d\n' "$n"
}

# forget PID: drops a process that has exited from the cleanup list.
forget() {
	local i
	for i in "${!PIDS[@]}"; do
		[[ ${PIDS[$i]} != "$1" ]] || unset 'PIDS[i]'
	done
}

step "1. Pick twenty-three free loopback ports"
mapfile -t PORTS < <("$BIN/demo-service" freeport -n 23)
((${#PORTS[@]} == 23)) || fail "demo-service freeport printed ${#PORTS[*]} ports, want 23"
P1=${PORTS[0]} P2=${PORTS[1]} P3=${PORTS[2]} ADMIN=127.0.0.1:${PORTS[3]} LISTEN=127.0.0.1:${PORTS[4]}
CONSUL=127.0.0.1:${PORTS[5]} PAY1=127.0.0.1:$P1 PAY3=127.0.0.1:$P3
JAEGER_OTLP=127.0.0.1:${PORTS[9]} JAEGER_OTLP_HTTP=127.0.0.1:${PORTS[10]}
JAEGER_QUERY=127.0.0.1:${PORTS[11]} JAEGER_QUERY_GRPC=127.0.0.1:${PORTS[12]}
PAY_INBOUND=127.0.0.1:${PORTS[13]} PAY_ADMIN=127.0.0.1:${PORTS[14]} TRACED_LISTEN=127.0.0.1:${PORTS[15]}
say "instances on $P1 $P2 $P3, sidecar admin API on $ADMIN, upstream listener on $LISTEN"
say "Consul HTTP API on $CONSUL (serf LAN ${PORTS[6]}, serf WAN ${PORTS[7]}, server RPC ${PORTS[8]})"
say "Jaeger: OTLP in on $JAEGER_OTLP (gRPC) and $JAEGER_OTLP_HTTP (HTTP), query API on $JAEGER_QUERY"
say "for step 16: payments sidecar inbound $PAY_INBOUND and admin $PAY_ADMIN, web listener $TRACED_LISTEN"
U1=${PORTS[16]} U2=${PORTS[17]} U3=${PORTS[18]} CAT1=${PORTS[19]} CAT2=${PORTS[20]}
EDGE=127.0.0.1:${PORTS[21]} EDGE_ADMIN=127.0.0.1:${PORTS[22]}
say "for step 18: user-service on $U1 $U2 $U3, catalog v1 on $CAT1 and v2 on $CAT2, edge listener $EDGE, admin $EDGE_ADMIN"

step "2. Start a Consul dev agent (in memory, loopback only) and wait for its leader"
start consul "$BIN/consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
	-http-port "${PORTS[5]}" -dns-port -1 -grpc-port -1 -grpc-tls-port -1 \
	-serf-lan-port "${PORTS[6]}" -serf-wan-port "${PORTS[7]}" -server-port "${PORTS[8]}" \
	-log-level warn
CONSUL_PID=$LAST_PID
wait_leader "$CONSUL_PID" "$CONSUL"

step "3. Start Jaeger (spans kept in memory, loopback only) and wait until it takes spans"
say "The sidecars send their spans to Jaeger's OTLP receiver; its query API serves them back."
JAEGER_CONFIG=$TMP/jaeger.yaml
cat >"$JAEGER_CONFIG" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none          # no metrics endpoint (it would take port 8888)
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    enable_tracing: false  # Jaeger does not trace itself (it would export to port 4317)
    storage:
      traces: mem
    http:
      endpoint: $JAEGER_QUERY
    grpc:
      endpoint: $JAEGER_QUERY_GRPC
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: $JAEGER_OTLP
      http:
        endpoint: $JAEGER_OTLP_HTTP
processors:
  batch:
    timeout: 200ms         # store spans within 200ms of their arrival
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
YAML
start jaeger "$BIN/jaeger" --config "$JAEGER_CONFIG"
JAEGER_PID=$LAST_PID
wait_200 jaeger "$JAEGER_PID" "$JAEGER_QUERY" /api/services
wait_tcp "jaeger OTLP/gRPC" "$JAEGER_PID" "$JAEGER_OTLP"

step "4. Start three instances of the payments service; each registers itself in Consul with an HTTP check"
declare -A INSTANCE_PID
for spec in "payments-1 $P1" "payments-2 $P2" "payments-3-slow $P3"; do
	read -r name port <<<"$spec"
	start "$name" "$BIN/demo-service" -name "$name" -listen "127.0.0.1:$port" -consul "$CONSUL" -service payments
	INSTANCE_PID[$name]=$LAST_PID
	wait_200 "$name" "$LAST_PID" "127.0.0.1:$port" /health
done
"$BIN/demo-service" consul-wait -consul "$CONSUL" -service payments -passing 3 -timeout "${START_TIMEOUT}s" | sed 's/^/   /'
say "The third one's slow switch makes it add 100ms to every request (until step 11 heals it):"
"$BIN/demo-service" control -addr "$PAY3" slow -delay 100ms | sed 's/^/   /'

step "5. Write the web sidecar's config: upstream payments has no endpoints, so they come from Consul; least_conn"
say "Retries and outlier detection are on by default; the demo shortens the outlier timings so you can watch them,"
say "and turns on two things that are off by default: slow start and latency ejection (steps 10 and 11)."
say "Every request is traced to Jaeger; the upstream payments-traced is for step 16."
CONFIG=$TMP/outrigger.yaml
cat >"$CONFIG" <<YAML
service:
  name: web
admin:
  listen: $ADMIN
log:
  level: info
consul:
  address: $CONSUL
  wait_time: 30s
tracing:
  exporter: otlp               # send spans to Jaeger over OTLP/gRPC
  endpoint: $JAEGER_OTLP
  protocol: grpc
  sample_ratio: 1.0            # trace every request this sidecar starts a trace for
upstreams:
  - name: payments # Consul service "payments" (the default: the upstream's name)
    listen: $LISTEN
    lb: least_conn
    slow_start: 10s            # an endpoint that joins or comes back ramps from 10% to 100% of its share over 10s (default 0s: off)
    retries:
      attempts: 1              # the default: one more try, on another endpoint, after a 502/503/504 or connect failure
    outlier:
      consecutive_5xx: 5       # the default: 5 answers 5xx in a row eject an endpoint
      interval: 1s             # check every second: latency, and whether ejected endpoints are due back (default 10s)
      base_ejection_time: 5s   # an ejection lasts 5s x times ejected (default 30s)
      latency_factor: 5        # eject an endpoint whose mean latency over an interval is > 5 x the others' median (default 0: off)
      failure_percentage_min_requests: 100  # ... judged on at least 100 answers in that interval (default 50)
  - name: payments-traced      # step 16: payments-1 behind its own sidecar, a fixed endpoint (no Consul)
    listen: $TRACED_LISTEN
    service: payments          # the identity its certificate must carry
    connect: true              # over the service mesh: mTLS with the Consul agent's CA
    endpoints: ["$PAY_INBOUND"]
YAML
sed 's/^/   | /' "$CONFIG"

step "6. Check it: outrigger validate -c $CONFIG"
"$BIN/outrigger" validate -c "$CONFIG" | sed 's/^/   /'

step "7. Start the sidecar and wait until it is ready (it has the first answer from Consul)"
start outrigger "$BIN/outrigger" run -c "$CONFIG"
SIDECAR_PID=$LAST_PID
wait_200 "outrigger" "$SIDECAR_PID" "$ADMIN" /ready
n=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -want 3 -timeout "${START_TIMEOUT}s") ||
	fail "the sidecar did not list the 3 payments instances from Consul within ${START_TIMEOUT}s"
say "GET http://$ADMIN/upstreams: payments has $n endpoints, from Consul"

step "8. Send 1500 requests through the sidecar (16 at a time): the app only knows http://$LISTEN"
say "least_conn sends each request to the endpoint with the fewest requests in flight."
say "payments-3-slow holds each request 100ms, so it is busy more often and gets a smaller share."
echo
"$BIN/demo-service" load -url "http://$LISTEN/pay" -requests 1500 -concurrency 16 -expect-status 200 | sed 's/^/   /'

step "9. What the sidecar saw: outrigger status --admin $ADMIN"
"$BIN/outrigger" status --admin "$ADMIN" | sed 's/^/   /'

step "10. Latency ejection: payments-3-slow answers, but so much slower than the others that the sidecar ejects it"
say "outlier.latency_factor 5: every interval (1s) the sidecar compares each endpoint's mean latency with the median"
say "of the others' means and ejects an endpoint more than 5 times slower. It judges only endpoints that answered at"
say "least failure_percentage_min_requests (100) times in the interval: at 16 requests at a time (step 8)"
say "payments-3-slow answered fewer than that a second and was left alone. 64 at a time for 3s give it enough"
say "answers; each row is one second of the run:"
echo
LOAD_SLOW=$TMP/load-latency.txt
if ! "$BIN/demo-service" load -url "http://$LISTEN/pay" -duration 3s -concurrency 64 -every 1s -expect-status 200 >"$LOAD_SLOW"; then
	sed 's/^/   /' "$LOAD_SLOW"
	fail "some requests failed while payments-3-slow was slow: a slow answer is still an answer"
fi
sed 's/^/   /' "$LOAD_SLOW"
EJECTED=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -endpoint "$PAY3" -want-ejected true \
	-timeout "${OUTLIER_TIMEOUT}s") || fail "the sidecar did not eject payments-3-slow for its latency within ${OUTLIER_TIMEOUT}s"
say "GET http://$ADMIN/upstreams: $EJECTED"
[[ $EJECTED == *" ejection_reason=latency "* ]] || fail "payments-3-slow was ejected, but not for latency"
line=$(wait_log "$TMP/outrigger.log" "outlier ejected endpoint" "endpoint=$PAY3 " "reason=latency") ||
	fail "the sidecar logged no \"outlier ejected endpoint\" line with reason=latency for payments-3-slow within ${START_TIMEOUT}s"
say "sidecar log (mean_ms: its mean latency; median_ms: the others'):"
say "  $line"
METRICS=$(http_body "$ADMIN" /metrics) || fail "GET http://$ADMIN/metrics did not answer 200"
grep -E '^outrigger_outlier_ejections_total\{[^}]*reason="latency"' <<<"$METRICS" | sed 's/^/   /' ||
	fail "GET http://$ADMIN/metrics has no outrigger_outlier_ejections_total with reason=\"latency\""
say "The app saw only 200s: the slow answers were answers all the same, and once payments-3-slow was out the"
say "rest went to the other two. Consul saw nothing wrong: /health does not wait, so its check kept passing."

step "11. Heal payments-3-slow: it comes back after base_ejection_time and ramps up (slow start)"
"$BIN/demo-service" control -addr "$PAY3" heal | sed 's/^/   /'
say "It returns when its ejection (base_ejection_time 5s) is over. With slow_start 10s it gets 10% of its weight"
say "at first and all of it 10s later, so an instance that has just come back (cold caches, empty pools) is not"
say "handed a full share at once. /upstreams shows when its ramp ends (slow_start_until):"
RETURNED=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -endpoint "$PAY3" -want-ejected false \
	-timeout "${OUTLIER_TIMEOUT}s") || fail "payments-3-slow was still ejected ${OUTLIER_TIMEOUT}s after it was healed"
say "GET http://$ADMIN/upstreams: $RETURNED"
[[ $RETURNED =~ slow_start_until=[0-9] ]] || fail "payments-3-slow came back without a slow-start window (slow_start_until is empty)"
say "Steady traffic for the next 11s, 200 requests a second. Each row is one second; the bar is payments-3-slow's"
say "share, which starts near 10% of a fair share (a third: 33.3%) and reaches a fair share as the ramp ends:"
echo
LOAD_RAMP=$TMP/load-slow-start.txt
if ! "$BIN/demo-service" load -url "http://$LISTEN/pay" -rate 200 -duration 11s -concurrency 16 -every 1s \
	-ramp payments-3-slow -expect-status 200 >"$LOAD_RAMP"; then
	sed 's/^/   /' "$LOAD_RAMP"
	fail "payments-3-slow's share did not ramp up from well under a fair share to near one over slow_start (see above)"
fi
sed 's/^/   /' "$LOAD_RAMP"

step "12. payments-1 starts failing: every request but /health now answers 503"
say "A switch inside payments-1 makes it fail every real request, while /health still answers 200:"
say "Consul's health check keeps passing, so as far as Consul knows payments-1 is fine."
"$BIN/demo-service" control -addr "$PAY1" fail -status 503 | sed 's/^/   /'
say "600 requests through the sidecar. Those that land on payments-1 get a 503, and the sidecar retries"
say "each of them once on another instance (retries.attempts), so the app sees nothing but 200s."
echo
LOAD_FAIL=$TMP/load-while-failing.txt
if ! "$BIN/demo-service" load -url "http://$LISTEN/pay" -requests 600 -concurrency 16 -expect-status 200 >"$LOAD_FAIL"; then
	sed 's/^/   /' "$LOAD_FAIL"
	fail "some requests failed while payments-1 was failing: the sidecar should have retried them on another instance"
fi
sed 's/^/   /' "$LOAD_FAIL"

step "13. The sidecar ejected payments-1: passive outlier detection"
say "After 5 consecutive 5xx (outlier.consecutive_5xx) the sidecar took payments-1 out of rotation."
say "Nothing was probed: it judged the answers to real traffic, which Consul's /health check never sees."
EJECTED=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -endpoint "$PAY1" -want-ejected true \
	-timeout "${OUTLIER_TIMEOUT}s") || fail "the sidecar did not eject payments-1 within ${OUTLIER_TIMEOUT}s"
say "GET http://$ADMIN/upstreams: $EJECTED"
[[ $EJECTED == *" ejection_reason=consecutive_5xx "* ]] || fail "payments-1 was ejected, but not for consecutive_5xx"
line=$(wait_log "$TMP/outrigger.log" "outlier ejected endpoint" "endpoint=$PAY1 ") ||
	fail "the sidecar logged no \"outlier ejected endpoint\" line for payments-1 within ${START_TIMEOUT}s"
say "sidecar log: $line"
say "The sidecar's counters (GET http://$ADMIN/metrics): the retries that hid the 503s, and the ejection:"
METRICS=$(http_body "$ADMIN" /metrics) || fail "GET http://$ADMIN/metrics did not answer 200"
grep -E '^outrigger_(retries_total|outlier_ejections_total)\{' <<<"$METRICS" | sed 's/^/   /' ||
	say "(no outrigger_retries_total or outrigger_outlier_ejections_total yet)"
say "Consul still lists all three as passing, payments-1 included:"
"$BIN/demo-service" consul-wait -consul "$CONSUL" -service payments -passing 3 -timeout "${START_TIMEOUT}s" | sed 's/^/   /'
say "outrigger status: payments-1 ($PAY1) is ejected; its FAILURES are the 503s it answered."
echo
"$BIN/outrigger" status --admin "$ADMIN" | sed 's/^/   /'

step "14. Heal payments-1: it returns after base_ejection_time"
"$BIN/demo-service" control -addr "$PAY1" heal | sed 's/^/   /'
say "The sidecar does not probe an ejected endpoint either: it puts it back when its ejection time"
say "(base_ejection_time 5s x 1 ejection) is over, at the next outlier check (every 1s here)."
RETURNED=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -endpoint "$PAY1" -want-ejected false \
	-timeout "${OUTLIER_TIMEOUT}s") || fail "payments-1 was still ejected ${OUTLIER_TIMEOUT}s after it was healed"
say "GET http://$ADMIN/upstreams: $RETURNED"
line=$(wait_log "$TMP/outrigger.log" "outlier endpoint returned" "endpoint=$PAY1 ") ||
	fail "the sidecar logged no \"outlier endpoint returned\" line for payments-1 within ${START_TIMEOUT}s"
say "sidecar log: $line"
say "payments-1 returned after base_ejection_time. Had it still been failing, 5 more 5xx would eject it"
say "again, for twice as long. Like payments-3-slow in step 11 it ramps up over slow_start (slow_start_until"
say "above). Another 600 requests: payments-1 gets traffic again, a smaller share while it ramps."
echo
LOAD_HEALED=$TMP/load-after-heal.txt
if ! "$BIN/demo-service" load -url "http://$LISTEN/pay" -requests 600 -concurrency 16 -expect-status 200 >"$LOAD_HEALED"; then
	sed 's/^/   /' "$LOAD_HEALED"
	fail "the load run after payments-1 was healed failed"
fi
sed 's/^/   /' "$LOAD_HEALED"
grep -q '^ *payments-1 ' "$LOAD_HEALED" || fail "payments-1 got no requests after it returned"

step "15. Deregister payments-2: SIGTERM makes it deregister from Consul, then stop"
say "This time the registry itself drops the instance, and the sidecar follows Consul's list."
stop payments-2 "${INSTANCE_PID[payments-2]}"
n=$("$BIN/demo-service" upstreams -admin "$ADMIN" -upstream payments -want 2 -timeout "${START_TIMEOUT}s") ||
	fail "the sidecar still had payments-2 ${START_TIMEOUT}s after it deregistered"
say "GET http://$ADMIN/upstreams: payments has $n endpoints now"
say "Another 600 requests: payments-2 gets 0%, so it is not in the table (payments-1 may still be ramping up)."
echo
LOAD2=$TMP/load-after-deregister.txt
if ! "$BIN/demo-service" load -url "http://$LISTEN/pay" -requests 600 -concurrency 16 -expect-status 200 >"$LOAD2"; then
	sed 's/^/   /' "$LOAD2"
	fail "the load run after payments-2 deregistered failed"
fi
sed 's/^/   /' "$LOAD2"
if grep -q '^ *payments-2 ' "$LOAD2"; then
	fail "payments-2 still got requests after it deregistered"
fi
echo
"$BIN/outrigger" status --admin "$ADMIN" | sed 's/^/   /'

step "16. Tracing over the service mesh: follow one request through two sidecars in Jaeger"
say "A second sidecar, \"payments\", now sits in front of payments-1: its inbound listener $PAY_INBOUND"
say "takes the requests for payments-1 ($PAY1) and passes them on. The web sidecar reaches it through its"
say "upstream payments-traced (listener $TRACED_LISTEN, endpoints [$PAY_INBOUND]). Both sidecars send spans to Jaeger."
say "Between them it is Consul's service mesh: each gets a certificate for its service from the Consul agent's CA,"
say "the payments sidecar accepts only mTLS from certificates of that CA, and the web sidecar checks that the"
say "peer is payments (its SPIFFE ID) before sending a byte."
PAY_CONFIG=$TMP/outrigger-payments.yaml
cat >"$PAY_CONFIG" <<YAML
service:
  name: payments               # the service.name of its spans
  address: 127.0.0.1           # the app it sits beside: payments-1
  port: $P1
inbound:
  listen: $PAY_INBOUND  # requests for payments-1 come in here
admin:
  listen: $PAY_ADMIN
consul:
  address: $CONSUL
tracing:
  exporter: otlp
  endpoint: $JAEGER_OTLP
  protocol: grpc
  sample_ratio: 1.0
connect:
  enabled: true                # inbound: mTLS only, Consul intentions decide who may call
upstreams: []                  # payments-1 calls nothing
YAML
sed 's/^/   | /' "$PAY_CONFIG"
"$BIN/outrigger" validate -c "$PAY_CONFIG" | sed 's/^/   /'
start outrigger-payments "$BIN/outrigger" run -c "$PAY_CONFIG"
PAY_SIDECAR_PID=$LAST_PID
wait_200 "payments sidecar" "$PAY_SIDECAR_PID" "$PAY_ADMIN" /ready
wait_tcp "payments sidecar inbound" "$PAY_SIDECAR_PID" "$PAY_INBOUND"
say "The payments sidecar's identity (GET http://$PAY_ADMIN/connect):"
http_body "$PAY_ADMIN" /connect | tr -d '\n' | sed 's/  */ /g; s/^/   /'
echo
code=$(http_status "$PAY_INBOUND" /pay) || code="closed"
say "A plaintext request straight to the inbound listener $PAY_INBOUND: ${code} (only mTLS gets in)"
[[ $code != 200 ]] || fail "the payments sidecar answered a plaintext request on its mTLS listener"
say "A few requests, app -> web sidecar -> payments sidecar -> payments-1:"
echo
LOAD_TRACED=$TMP/load-traced.txt
if ! "$BIN/demo-service" load -url "http://$TRACED_LISTEN/pay" -requests 5 -concurrency 1 -expect-status 200 >"$LOAD_TRACED"; then
	sed 's/^/   /' "$LOAD_TRACED"
	fail "requests through the two sidecars failed"
fi
sed 's/^/   /' "$LOAD_TRACED"
TRACE_ID=$(random_hex 16) APP_SPAN=$(random_hex 8)
[[ $TRACE_ID =~ ^[0-9a-f]{32}$ && $APP_SPAN =~ ^[0-9a-f]{16}$ ]] || fail "could not make random ids from /dev/urandom"
TRACEPARENT=00-$TRACE_ID-$APP_SPAN-01
say "Now one request that carries the app's own trace context (W3C headers):"
say "  traceparent: $TRACEPARENT   (00-<trace id>-<parent span id>-<flags, 01 = sampled>)"
say "  baggage: demo.user=alice    (key=value pairs that travel with the trace)"
ECHO=$(http_body "$TRACED_LISTEN" /pay "traceparent: $TRACEPARENT" "baggage: demo.user=alice") ||
	fail "GET http://$TRACED_LISTEN/pay with a traceparent did not answer 200"
say "payments-1 echoed: $ECHO"
[[ $ECHO =~ \"traceparent\":\"([^\"]*)\" ]] || fail "the echo has no traceparent"
GOT=${BASH_REMATCH[1]}
[[ $GOT =~ ^00-$TRACE_ID-([0-9a-f]{16})-01$ ]] || fail "payments-1 got traceparent \"$GOT\", want trace id $TRACE_ID, sampled"
GOT_SPAN=${BASH_REMATCH[1]}
[[ $GOT_SPAN != "$APP_SPAN" ]] || fail "the traceparent reached payments-1 unchanged: the sidecars added no span"
[[ $ECHO =~ \"baggage\":\"[^\"]*demo\.user=alice ]] || fail "the baggage did not reach payments-1"
say "Same trace id; the parent span is now $GOT_SPAN, the payments sidecar's span, not the app's $APP_SPAN;"
say "and the baggage arrived."
say "Jaeger has the trace once both sidecars have sent their batch of spans (service: operation [kind] duration):"
echo
TREE=$TMP/trace.txt
"$BIN/demo-service" trace -jaeger "http://$JAEGER_QUERY" -trace "$TRACE_ID" -services web,payments \
	-timeout "${START_TIMEOUT}s" >"$TREE" ||
	fail "Jaeger did not have spans from both web and payments for trace $TRACE_ID within ${START_TIMEOUT}s"
sed 's/^/   /' "$TREE"
echo
say "The trace as JSON, from Jaeger's API: http://$JAEGER_QUERY/api/traces/$TRACE_ID"
say "In Jaeger's UI: http://$JAEGER_QUERY/trace/$TRACE_ID"
say "(bin/jaeger is built from Go source, without the UI's web files: its UI pages are a placeholder.)"
if [[ ${DEMO_HOLD:-} == 1 ]]; then
	read -r -p "   Everything is still running. Press Enter to stop it... " || true
else
	say "Everything stops when the demo ends; run 'DEMO_HOLD=1 make demo' to keep it up until you press Enter."
fi

step "17. Intentions: Consul decides who may call whom, and the sidecar follows at once"
say "An intention web -> payments: deny, written to Consul. The payments sidecar follows intentions with a"
say "blocking query and checks every request against the current verdict (the source is in the client certificate)."
"$BIN/demo-service" intention -consul "$CONSUL" -source web -destination payments -action deny | sed 's/^/   /'
wait_status "$TRACED_LISTEN" /pay 403
line=$(wait_log "$TMP/outrigger-payments.log" "connect intentions changed" "named_denied=1") || fail "the payments sidecar logged no intentions change"
say "payments sidecar log: $line"
METRICS=$(http_body "$PAY_ADMIN" /metrics) || fail "GET http://$PAY_ADMIN/metrics did not answer 200"
grep -E '^outrigger_connect_denied_total' <<<"$METRICS" | sed 's/^/   /'
say "Remove it, and web may call payments again:"
"$BIN/demo-service" intention -consul "$CONSUL" -source web -destination payments -action delete | sed 's/^/   /'
wait_status "$TRACED_LISTEN" /pay 200

step "18. A routing listener: one port, many upstreams (Caddy's reverse_proxy /api/* a b c)"
say "An edge sidecar serves one address and routes by host, path and header: /api/* on host"
say "user-service.example.com goes to three user-service instances, with /api stripped; x-canary: 1 goes to"
say "the canary; everything else is split 90/10 between catalog v1 and v2 — one Consul service, two tags."
for spec in "user-1 $U1 user-service v1" "user-2 $U2 user-service v1" "user-3 $U3 user-service v1" \
	"catalog-v1 $CAT1 catalog v1" "catalog-v2 $CAT2 catalog v2"; do
	read -r name port service tag <<<"$spec"
	start "$name" "$BIN/demo-service" -name "$name" -listen "127.0.0.1:$port" -consul "$CONSUL" -service "$service" -tags "$tag"
	INSTANCE_PID[$name]=$LAST_PID
	wait_200 "$name" "$LAST_PID" "127.0.0.1:$port" /health
done
"$BIN/demo-service" consul-wait -consul "$CONSUL" -service user-service -passing 3 -timeout "${START_TIMEOUT}s" | sed 's/^/   /'
"$BIN/demo-service" consul-wait -consul "$CONSUL" -service catalog -passing 2 -timeout "${START_TIMEOUT}s" | sed 's/^/   /'
EDGE_CONFIG=$TMP/outrigger-edge.yaml
# edge_config V1 V2: the edge sidecar's config with split weights V1/V2.
edge_config() {
	cat <<YAML
service:
  name: edge
admin:
  listen: $EDGE_ADMIN
consul:
  address: $CONSUL
  wait_time: 30s
upstreams:                     # no listen: only the routes below reach them
  - name: user-service
  - {name: catalog-v1, service: catalog, tags: [v1]}
  - {name: catalog-v2, service: catalog, tags: [v2]}
listeners:
  - name: edge
    listen: $EDGE
    routes:
      - name: users
        match: {host: user-service.example.com, path_prefix: /api/}
        upstream: user-service
        strip_prefix: true     # /api/users arrives as /users
      - name: canary
        match: {headers: {x-canary: "1"}}
        upstream: catalog-v2
      - name: catalog
        match: {path_prefix: /}
        split:
          - {upstream: catalog-v1, weight: $1}
          - {upstream: catalog-v2, weight: $2}
YAML
}
edge_config 90 10 >"$EDGE_CONFIG"
sed 's/^/   | /' "$EDGE_CONFIG"
say "outrigger validate prints the route table it compiled, in the order a request tries it:"
"$BIN/outrigger" validate -c "$EDGE_CONFIG" | sed 's/^/   /'
start outrigger-edge "$BIN/outrigger" run -c "$EDGE_CONFIG"
EDGE_PID=$LAST_PID
wait_200 "edge sidecar" "$EDGE_PID" "$EDGE_ADMIN" /ready
say "GET /api/users with Host: user-service.example.com; the instance saw (path stripped):"
ECHO=$(http_body "$EDGE" /api/users "Host: user-service.example.com") || fail "GET /api/users on the edge listener did not answer 200"
[[ $ECHO == *'"path":"/users"'* ]] || fail "user-service got $ECHO, want path /users"
say "  $ECHO"
say "600 requests to /api/users on host user-service.example.com: least_conn over the three instances."
echo
"$BIN/demo-service" load -url "http://$EDGE/api/users" -header "Host: user-service.example.com" \
	-requests 600 -concurrency 8 -expect-status 200 | sed 's/^/   /'
say "200 requests with x-canary: 1 all go to the canary:"
echo
CANARY=$TMP/load-canary.txt
"$BIN/demo-service" load -url "http://$EDGE/items" -header "x-canary: 1" -requests 200 -concurrency 8 -expect-status 200 >"$CANARY" ||
	{ sed 's/^/   /' "$CANARY"; fail "the canary requests failed"; }
sed 's/^/   /' "$CANARY"
if grep -q '^ *catalog-v1 ' "$CANARY"; then fail "a request with x-canary: 1 reached catalog-v1"; fi
say "2000 requests without it: split 90/10 between catalog-v1 and catalog-v2."
echo
"$BIN/demo-service" load -url "http://$EDGE/items" -requests 2000 -concurrency 8 -expect-status 200 | sed 's/^/   /'
say "Now move the split to 50/50 by editing the file while 6000 requests are under way, then SIGHUP"
say "(once about 3000 of them have gone through, so the run sees both tables)."
LOAD_RELOAD=$TMP/load-during-reload.txt
before=$(route_requests "$EDGE_ADMIN" catalog)
"$BIN/demo-service" load -url "http://$EDGE/items" -requests 6000 -concurrency 8 -expect-status 200 >"$LOAD_RELOAD" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
deadline=$((SECONDS + START_TIMEOUT))
while (($(route_requests "$EDGE_ADMIN" catalog) < before + 3000)); do
	((SECONDS < deadline)) || fail "the load run did not reach 3000 requests within ${START_TIMEOUT}s"
	kill -0 "$LOAD_PID" 2>/dev/null || break # finished already (a very fast machine)
	sleep 0.02 # poll interval
done
edge_config 50 50 >"$EDGE_CONFIG.next" && mv "$EDGE_CONFIG.next" "$EDGE_CONFIG"
kill -HUP "$EDGE_PID"
line=$(wait_log "$TMP/outrigger-edge.log" "listener routes changed" "listener=edge") ||
	fail "the edge sidecar logged no \"listener routes changed\" within ${START_TIMEOUT}s of SIGHUP"
say "edge sidecar log: $line"
rc=0
wait "$LOAD_PID" || rc=$?
forget "$LOAD_PID"
sed 's/^/   /' "$LOAD_RELOAD"
((rc == 0)) || fail "requests failed while the split was reloaded under load"
say "Not one request failed across the reload: those before it went 90/10, those after it 50/50. The next 2000:"
echo
"$BIN/demo-service" load -url "http://$EDGE/items" -requests 2000 -concurrency 8 -expect-status 200 | sed 's/^/   /'
say "outrigger status --admin $EDGE_ADMIN: endpoints, then each route with its requests:"
echo
"$BIN/outrigger" status --admin "$EDGE_ADMIN" | sed 's/^/   /'

step "19. Stop the sidecars with SIGTERM (they drain in-flight requests and exit 0), then the rest"
stop outrigger "$SIDECAR_PID"
stop outrigger-payments "$PAY_SIDECAR_PID"
stop outrigger-edge "$EDGE_PID"
for name in payments-1 payments-3-slow user-1 user-2 user-3 catalog-v1 catalog-v2; do
	stop "$name" "${INSTANCE_PID[$name]}"
done
# A Consul server exits 1 on SIGTERM by design: it shuts down without
# leaving the cluster (leave_on_terminate is off for servers).
stop consul "$CONSUL_PID" 1
stop jaeger "$JAEGER_PID"

step "Demo finished. Next: 'make test' runs the test suite; README.md explains the config."
