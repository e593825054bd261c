package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// wrkResult is one closed-loop throughput run against one target.
type wrkResult struct {
	Requests int64
	Seconds  float64
	RPS      float64
	Errors   int64 // socket errors (connect, read, write, timeout)
	Non2xx   int64
	CPUTicks int64   // the proxy's utime+stime during the run (0 for direct)
	CPUPer1k float64 // the proxy's CPU seconds per 1,000 requests
	Other    float64 // CPU used meanwhile by processes not ours, in cores
}

var (
	reWrkReqs   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	reWrkRPS    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reWrkSock   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reWrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// wrkArgs is the wrk command line, pinned to the load core.
func wrkArgs(wrk, cpu string, conns int, d time.Duration, u string) []string {
	return []string{"taskset", "-c", cpu, wrk, "-t1", "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(d/time.Second)) + "s", "--timeout", "2s", u}
}

// runWrk runs wrk against u and parses its summary. The run is bounded by
// wrk's own -d and by a context deadline a few seconds later.
func runWrk(ctx context.Context, wrk, cpu string, conns int, d time.Duration, u string) (wrkResult, error) {
	var r wrkResult
	ctx, cancel := context.WithTimeout(ctx, d+15*time.Second)
	defer cancel()
	args := wrkArgs(wrk, cpu, conns, d, u)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("wrk %s: %v\n%s", u, err, out)
	}
	s := string(out)
	m := reWrkReqs.FindStringSubmatch(s)
	rm := reWrkRPS.FindStringSubmatch(s)
	if m == nil || rm == nil {
		return r, fmt.Errorf("wrk %s: cannot parse output:\n%s", u, s)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	secs, _ := strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "us":
		secs /= 1e6
	case "ms":
		secs /= 1e3
	case "m":
		secs *= 60
	}
	r.Seconds = secs
	r.RPS, _ = strconv.ParseFloat(rm[1], 64)
	if sm := reWrkSock.FindStringSubmatch(s); sm != nil {
		for _, x := range sm[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			r.Errors += n
		}
	}
	if nm := reWrkNon2xx.FindStringSubmatch(s); nm != nil {
		r.Non2xx, _ = strconv.ParseInt(nm[1], 10, 64)
	}
	return r, nil
}

// latResult is one open-loop fixed-rate run against one target.
type latResult struct {
	Sent, OK, Errors int
	P50, P99, P999   time.Duration
	Rate             float64 // achieved rate of successful requests
	Other            float64 // CPU used meanwhile by processes not ours, in cores
}

// newLoadClient is the HTTP client of the latency runs: at most conns
// connections, kept alive across runs to the same target.
func newLoadClient(conns int) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     2 * time.Minute,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// runVegeta sends rate req/s to u for d, open loop: requests are started on
// the pacer's schedule whatever the answers do (vegeta adds workers when all
// are busy), and a request's latency includes any wait for one of the conns
// connections, so a slow answer is not hidden by sending fewer requests
// (no coordinated omission). Bounded by d and the client's 5 s timeout.
func runVegeta(client *http.Client, conns, rate int, d time.Duration, u string) (latResult, error) {
	var r latResult
	if _, err := url.Parse(u); err != nil {
		return r, err
	}
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(uint64(conns)),
		vegeta.MaxBody(0),
	)
	pacer := vegeta.Rate{Freq: rate, Per: time.Second}
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: u})
	lat := make([]time.Duration, 0, int(float64(rate)*d.Seconds())+16)
	var first, last time.Time
	for res := range atk.Attack(tgt, pacer, d, "bench") {
		r.Sent++
		if res.Error != "" || res.Code != http.StatusOK {
			r.Errors++
			continue
		}
		if first.IsZero() {
			first = res.Timestamp
		}
		last = res.Timestamp
		lat = append(lat, res.Latency)
	}
	r.OK = len(lat)
	if r.OK == 0 {
		return r, fmt.Errorf("vegeta %s: no successful request of %d", u, r.Sent)
	}
	if el := last.Sub(first); el > 0 {
		r.Rate = float64(r.OK-1) / el.Seconds()
	}
	slices.Sort(lat)
	r.P50, r.P99, r.P999 = quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 0.999)
	return r, nil
}

// quantile of sorted samples: the smallest sample with at least q of the
// samples at or below it.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func wrkVersion(wrk string) string {
	out, _ := exec.Command(wrk, "-v").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	first = strings.TrimSpace(first)
	if f := strings.Fields(first); len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return first
}
