#!/usr/bin/env bash
# Proxy comparison: Outrigger against HAProxy and nginx on this machine
# (`make bench` runs it after the Go benchmarks, `make bench-proxies` alone).
#
#   1. installs haproxy, nginx-light and wrk with apt-get, only those that
#      are missing (`apt-get update` first; needs root or sudo);
#   2. builds bin/outrigger (`make build`, so always the current source),
#      bin/consul (`make bin/consul`: nothing to do when it is up to date;
#      the first build takes about 5 minutes) and bin/proxybench
#      (deploy/bench, its own Go module: vegeta and x/image stay out of the
#      main go.mod);
#   3. runs bin/proxybench pinned to CPU 0 (BENCH_LOAD_CPU): it starts the
#      1 KiB backend on CPU 0, Outrigger (five times: tracing off; tracing
#      off behind a routing listener of 10 routes whose last one takes the
#      request, "outrigger-routing"; tracing at 1%; the access log on, JSON
#      to a file in the work dir, "outrigger-accesslog"; and a rate_limit of
#      500,000 req/s that the bench never reaches, "outrigger-ratelimit"),
#      HAProxy, nginx and "go-floor" (`proxybench forward`, a minimal Go
#      forwarder without net/http types, as a reference for Go's own floor)
#      each pinned to CPU 1 (BENCH_PROXY_CPU), and two
#      Outrigger sidecars in a row, web -> payments -> backend, both on CPU 1, plaintext
#      ("outrigger-2hop") and with Consul Connect mTLS between them
#      ("outrigger-mtls"; a `consul agent -dev` on CPU 0 issues the
#      certificates, started and stopped by the harness), and their HAProxy
#      peer, two HAProxys in a row with mTLS between them ("haproxy-mtls";
#      the harness makes a CA and ECDSA P-256 leaves in the work dir); then
#      the same proxies again as processes of their own under other load:
#      with 64 connections ("direct@64", "outrigger@64", "haproxy@64") and
#      with 64 KiB response bodies ("direct-64k", "outrigger-64k",
#      "haproxy-64k", "nginx-64k"; the backend answers /64k with 64 KiB),
#      all on 127.0.0.1 on free ports, measures them interleaved (3 rounds
#      of a 5 s wrk run and a 5 s vegeta run per target, after a warm-up),
#      profiles one more Outrigger (`run -pprof`) for 8 s under wrk, stops
#      them all, checks that the access log has a line for every request
#      (less those it counted as dropped) and that no request was
#      rate-limited (exit status 1 otherwise, results written all the
#      same), and writes deploy/bench/results/results.md (with issue 14's
#      "Done when" verdicts, at 16 and 64 connections), results.png and
#      flame.svg (the profile as a flame graph), and prints the table.
#
# Other work on the machine spoils the figures, so the harness first waits
# (up to 2 minutes) for the machine to be quiet, measures during every run
# how much CPU other processes used, and repeats a disturbed run (at most 6
# repeats per bench); results.md says how much of that happened.
#
# It takes about 11 minutes, more on a busy machine (plus the apt-get
# installs the first time). Left out by default to stay near 12 minutes:
# nginx with 64 connections (add nginx@64 to -targets; any target of
# direct, outrigger, haproxy, nginx, outrigger-2hop, outrigger-mtls and
# haproxy-mtls takes @N for N connections and -64k for 64 KiB bodies).
# Arguments are passed to proxybench, e.g. `run.sh -rounds 5 -keep`
# (`bin/proxybench -h` lists them); from make: make bench-proxies BENCH_FLAGS='-rounds 5'.
# For the cost of the access log and of a rate limit alone (issue 13's
# limits: 5 % and 2 % of throughput; 3 rounds are too few to decide a few
# per cent here, results.md says so), a longer run of the three, about 8
# minutes:
#   BENCH_FLAGS='-targets outrigger,outrigger-accesslog,outrigger-ratelimit -rounds 11'
# For the cost of a handshake, add the two targets that open a new
# web -> payments connection for every request (not in the default list):
#   BENCH_FLAGS='-targets outrigger-2hop,outrigger-mtls,outrigger-2hop-noreuse,outrigger-mtls-noreuse'
# (their latency runs are at -noreuse-rate, 200 req/s: a handshake per
# request would overload the sidecars at 2,000).
# Every load run is bounded (wrk -d, vegeta -duration) and stops by itself;
# every process started is stopped at the end, on failure and on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
GO=${GO:-go}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
PROXY_CPU=${BENCH_PROXY_CPU:-1}

if (($(nproc --all) < 2)); then
	echo "bench: needs at least 2 CPUs (one for the proxy, one for the load); this machine has $(nproc --all)" >&2
	exit 1
fi

# haproxy and nginx live in /usr/sbin, which a non-root PATH may lack.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
	echo "bench: installing ${missing[*]} with apt-get"
	SUDO=()
	if (($(id -u) != 0)); then SUDO=(sudo); fi
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "bench: building bin/outrigger, bin/consul and bin/proxybench"
make --no-print-directory build bin/consul GO="$GO"
# The bench module as committed (-mod=readonly) and without any go.work,
# like the tools modules in the Makefile.
GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' "$GO" build -C deploy/bench -o "$ROOT/bin/proxybench" ./cmd/proxybench

exec taskset -c "$LOAD_CPU" bin/proxybench -root . -load-cpu "$LOAD_CPU" -proxy-cpu "$PROXY_CPU" \
	-haproxy "$(command -v haproxy)" -nginx "$(command -v nginx)" -wrk "$(command -v wrk)" "$@"
