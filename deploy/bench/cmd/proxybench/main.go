// Command proxybench compares Outrigger with HAProxy and nginx on this
// machine: one backend answering 1 KiB, each proxy alone on one core in
// front of it, load from the other core. It measures, interleaved over a
// few rounds, the max throughput (wrk, closed loop), the added latency at a
// fixed rate (vegeta, open loop), the proxy's CPU per request and its RSS,
// and writes results.md and results.png. deploy/bench/run.sh installs the
// tools, builds everything and runs it; see there.
//
// Everything listens on 127.0.0.1 on free ports; every load run is bounded
// in duration and stops by itself; every process started is stopped at the
// end (or on SIGINT/SIGTERM).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		if err := backendMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "forward" {
		if err := forwardMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "forward:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

type options struct {
	Root, Out, Outrigger, Baseline, HAProxy, Nginx, Wrk, Consul string
	Targets                                                     []string
	Rounds                                                      int
	TputDur, LatDur, Warmup                                     time.Duration
	Rate, NoReuseRate, Conns                                    int
	ProxyCPU, LoadCPU                                           string
	BackendKind                                                 string
	Keep                                                        bool
	QuietWait                                                   time.Duration
	Retries                                                     int
	ProfileSecs                                                 int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("proxybench", flag.ContinueOnError)
	fs.StringVar(&o.Root, "root", ".", "repository root (bin/outrigger is there)")
	fs.StringVar(&o.Out, "out", "", "results directory (default ROOT/deploy/bench/results)")
	fs.StringVar(&o.Outrigger, "outrigger", "", "outrigger binary (default ROOT/bin/outrigger)")
	fs.StringVar(&o.Baseline, "baseline", "", "another outrigger binary (an older build) measured in the same interleaved run as the target outrigger-baseline, for a before/after comparison")
	fs.StringVar(&o.HAProxy, "haproxy", "haproxy", "haproxy binary")
	fs.StringVar(&o.Nginx, "nginx", "nginx", "nginx binary")
	fs.StringVar(&o.Wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&o.Consul, "consul", "", "consul binary, for the mTLS targets (default ROOT/bin/consul)")
	targets := fs.String("targets", strings.Join(defaultTargets, ","), "targets to measure (direct is always included); known: "+strings.Join(allTargets, ",")+
		"; and variants of "+strings.Join(variantBases, ",")+": ID@N with N connections, ID-64k with 64 KiB responses, ID-64k@N (each compared with direct and haproxy of the same variant)")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds; figures are medians over rounds")
	fs.DurationVar(&o.TputDur, "tput-duration", 5*time.Second, "length of each wrk throughput run (whole seconds)")
	fs.DurationVar(&o.LatDur, "lat-duration", 5*time.Second, "length of each fixed-rate latency run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up per target (wrk, then vegeta, each this long) before round 1")
	fs.IntVar(&o.Rate, "rate", 2000, "request rate of the latency runs (req/s)")
	fs.IntVar(&o.NoReuseRate, "noreuse-rate", 200, "request rate of the latency runs of the connection-per-request targets (req/s; each request opens a connection, and with mTLS does a handshake, so -rate would overload them)")
	fs.IntVar(&o.Conns, "conns", 16, "connections of every run")
	fs.StringVar(&o.ProxyCPU, "proxy-cpu", "1", "CPU list (taskset -c) of the proxy under test")
	fs.StringVar(&o.LoadCPU, "load-cpu", "0", "CPU list (taskset -c) of the backend and load generators")
	fs.StringVar(&o.BackendKind, "backend", "raw", "backend: raw (minimal HTTP/1.1 responder) or nethttp")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work dir (configs, logs)")
	fs.IntVar(&o.Retries, "retries", 6, "how many disturbed runs (other processes using over 0.1 core meanwhile) may be repeated in all")
	fs.DurationVar(&o.QuietWait, "quiet-wait", 2*time.Minute, "wait at most this long for the machine to be under 15% busy before starting (0: do not wait)")
	fs.IntVar(&o.ProfileSecs, "profile", 8, "after the rounds, a CPU profile of this many seconds of one more Outrigger (run -pprof) under wrk, drawn as flame.svg beside results.md (0: none)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.Out == "" {
		o.Out = filepath.Join(o.Root, "deploy", "bench", "results")
	}
	if o.Outrigger == "" {
		o.Outrigger = filepath.Join(o.Root, "bin", "outrigger")
	}
	if o.Consul == "" {
		o.Consul = filepath.Join(o.Root, "bin", "consul")
	}
	o.Targets = []string{tDirect}
	seen := map[string]bool{tDirect: true}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		base, _, _, err := parseVariant(t)
		if err != nil {
			return o, err
		}
		known := false
		for _, a := range allTargets {
			known = known || a == base
		}
		if !known {
			return o, fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(allTargets, ", "))
		}
		seen[t] = true
		o.Targets = append(o.Targets, t)
	}
	// Every variant group has its direct, the reference of its added
	// latency and × direct.
	for _, t := range o.Targets {
		if d := variantID(tDirect, t); !seen[d] {
			seen[d] = true
			o.Targets = append(o.Targets, d)
		}
	}
	if o.Baseline != "" {
		// Right after each Outrigger variant under test, so the two are
		// compared in the same rounds and the tables put them side by side.
		var with []string
		for _, t := range o.Targets {
			with = append(with, t)
			if base, _, _, _ := parseVariant(t); base == tOutrigger {
				with = append(with, variantID(tOutriggerBase, t))
			}
		}
		o.Targets = with
	}
	if o.Retries < 0 || o.Retries > 20 {
		return o, errors.New("-retries must be 0 to 20")
	}
	if o.ProfileSecs < 0 || o.ProfileSecs > 60 {
		return o, errors.New("-profile must be 0 to 60 seconds")
	}
	if o.Rounds < 1 || o.Rate < 1 || o.NoReuseRate < 1 || o.Conns < 1 || o.TputDur < time.Second || o.LatDur < time.Second {
		return o, errors.New("rounds, rate and conns must be positive and durations at least 1s")
	}
	if o.TputDur > time.Minute || o.LatDur > time.Minute || o.Rounds > 20 {
		return o, errors.New("refusing runs over 1 minute or more than 20 rounds")
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	// The harness shares the load core with the backend: fewer GC cycles
	// in it mean less noise in the latency runs.
	debug.SetGCPercent(400)
	loadBefore := loadAvg()

	for _, b := range []*string{&o.Outrigger, &o.Baseline, &o.HAProxy, &o.Nginx, &o.Wrk, &o.Consul} {
		if p, err := exec.LookPath(*b); err == nil {
			*b = p
		}
	}
	need := map[string]string{"wrk": o.Wrk}
	mesh, certs := false, false
	for _, id := range o.Targets {
		id, _, _, _ := parseVariant(id)
		if twoHop, mtls, _ := isTwoHop(id); twoHop {
			need["outrigger"] = o.Outrigger
			if mtls {
				need["consul"] = o.Consul
				mesh = true
			}
		}
		switch id {
		case tOutrigger, tOutriggerRoute, tOutriggerTrce, tOutriggerALog, tOutriggerRate:
			need["outrigger"] = o.Outrigger
		case tOutriggerBase:
			need["baseline"] = o.Baseline
		case tHAProxy:
			need["haproxy"] = o.HAProxy
		case tHAProxyMTLS:
			need["haproxy"] = o.HAProxy
			certs = true
		case tNginx:
			need["nginx"] = o.Nginx
		}
	}
	if o.ProfileSecs > 0 {
		need["outrigger"] = o.Outrigger
	}
	for name, p := range need {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s not found (%s): run deploy/bench/run.sh, which installs it", name, p)
		}
	}

	work, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return err
	}
	if o.Keep {
		fmt.Println("work dir:", work)
	} else {
		defer os.RemoveAll(work)
	}

	var quietWaited time.Duration
	if o.QuietWait > 0 {
		var busy float64
		busy, quietWaited = waitQuiet(ctx, o.QuietWait, 0.15)
		if busy >= 0.15 {
			fmt.Printf("the machine is still %.0f%% busy after %s; going on (results.md says so)\n", busy*100, quietWaited.Round(time.Second))
		}
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend, backendAddr, err := startBackend(self, o.LoadCPU, o.BackendKind, filepath.Join(work, "backend.log"))
	if err != nil {
		return err
	}
	defer backend.stop(3 * time.Second)

	env := benchEnv{WorkDir: work, ProxyCPU: o.ProxyCPU, LoadCPU: o.LoadCPU,
		Outrigger: o.Outrigger, Baseline: o.Baseline, HAProxy: o.HAProxy, Nginx: o.Nginx, Backend: backendAddr, Self: self}
	// The mTLS targets take their identities from a consul dev agent: on the
	// load CPU, like the backend, and stopped at the end.
	var consul *target
	if mesh {
		if consul, err = startConsul(o.Consul, o.LoadCPU, work); err != nil {
			return err
		}
		defer consul.stop(5 * time.Second)
		env.Consul = consul.Addr
	}
	if certs {
		if env.Certs, err = writeCerts(work, time.Now()); err != nil {
			return err
		}
	}
	var ts []*target
	defer func() {
		for _, t := range ts {
			t.stop(5 * time.Second)
		}
	}()
	for _, id := range o.Targets {
		t, err := newTarget(id, env)
		if err != nil {
			return err
		}
		if err := t.start(); err != nil {
			return err
		}
		ts = append(ts, t)
	}
	for _, t := range ts {
		if err := t.waitReady(15 * time.Second); err != nil {
			return err
		}
	}
	if consul != nil && !consul.alive() {
		return fmt.Errorf("consul exited; log: %s", tail(consul.LogPath, 15))
	}
	// Let start-up settle before the idle RSS; meanwhile, see how busy the
	// machine is with nothing of ours under load.
	cpuBefore := machineCPU()
	time.Sleep(time.Second)
	quiet := machineBusy(cpuBefore, machineCPU())
	for _, t := range ts {
		if t.isProxy() {
			if t.IdleKB, err = t.memKB("VmRSS"); err != nil {
				return err
			}
		}
	}
	hz := clockTicks()
	repeated := 0
	fmt.Printf("backend %s (%s) and load on CPU %s; proxies on CPU %s; %d rounds of %s (wrk) + %s at %d req/s (vegeta), %d connections (but for the @N targets)\n",
		backendAddr, o.BackendKind, o.LoadCPU, o.ProxyCPU, o.Rounds, o.TputDur, o.LatDur, o.Rate, o.Conns)

	clients := map[string]*http.Client{}
	for _, t := range ts {
		clients[t.ID] = newLoadClient(t.conns(o))
	}
	alive := func(t *target) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.isProxy() && !t.alive() {
			return fmt.Errorf("%s exited; log: %s", t.ID, t.logTail(15))
		}
		if !backend.alive() {
			return fmt.Errorf("backend exited; log: %s", tail(backend.LogPath, 15))
		}
		return nil
	}

	// Warm-up: connections, pools, JIT-free but cache- and GC-warm.
	if o.Warmup > 0 {
		wsec := max(time.Second, o.Warmup.Truncate(time.Second))
		for _, t := range ts {
			if err := alive(t); err != nil {
				return err
			}
			if _, err := runWrk(ctx, o.Wrk, o.LoadCPU, t.conns(o), wsec, t.URL()); err != nil {
				return err
			}
			if _, err := runVegeta(clients[t.ID], t.conns(o), t.rate(o), o.Warmup, t.URL()); err != nil {
				return err
			}
		}
	}

	// A run during which other processes used more than `disturbed` of a
	// core is repeated once the machine is quiet again (or 15 s passed), up
	// to o.Retries times in the whole bench: bounded, and the kept run says
	// how disturbed it was.
	retriesLeft := o.Retries
	retry := func(other float64, what string) bool {
		if other <= disturbed || retriesLeft <= 0 {
			return false
		}
		retriesLeft--
		fmt.Printf("         %s: other load %.2f cores, repeating it once the machine is quiet (%d repeats left)\n", what, other, retriesLeft)
		waitQuiet(ctx, 15*time.Second, 0.15)
		return ctx.Err() == nil
	}
	tputRun := func(t *target) (wrkResult, error) {
		var before int64
		var err error
		if t.isProxy() {
			if before, err = t.cpuTicks(); err != nil {
				return wrkResult{}, err
			}
		}
		other := otherLoad(hz)
		w, err := runWrk(ctx, o.Wrk, o.LoadCPU, t.conns(o), o.TputDur, t.URL())
		if err != nil {
			return w, err
		}
		w.Other = other()
		if t.isProxy() {
			after, err := t.cpuTicks()
			if err != nil {
				return w, err
			}
			w.CPUTicks = after - before
			if w.Requests > 0 {
				w.CPUPer1k = float64(w.CPUTicks) / hz / float64(w.Requests) * 1000
			}
		}
		return w, nil
	}

	for r := 0; r < o.Rounds; r++ {
		order := rotate(ts, r)
		for _, t := range order {
			var w wrkResult
			for {
				if err := alive(t); err != nil {
					return err
				}
				if w, err = tputRun(t); err != nil {
					return err
				}
				if !retry(w.Other, "wrk "+t.ID) {
					break
				}
				repeated++
			}
			t.Tput = append(t.Tput, w)
			fmt.Printf("round %d  %-20s %9.0f req/s  cpu %.4f s/1k req  errors %d non-2xx %d  other load %.2f cores\n",
				r+1, t.ID, w.RPS, w.CPUPer1k, w.Errors, w.Non2xx, w.Other)
		}
		for _, t := range order {
			var l latResult
			for {
				if err := alive(t); err != nil {
					return err
				}
				other := otherLoad(hz)
				if l, err = runVegeta(clients[t.ID], t.conns(o), t.rate(o), o.LatDur, t.URL()); err != nil {
					return err
				}
				l.Other = other()
				if !retry(l.Other, "vegeta "+t.ID) {
					break
				}
				repeated++
			}
			t.Lat = append(t.Lat, l)
			fmt.Printf("round %d  %-20s p50 %7s  p99 %7s  p99.9 %7s  at %.0f req/s, errors %d  other load %.2f cores\n",
				r+1, t.ID, us(l.P50), us(l.P99), us(l.P999), l.Rate, l.Errors, l.Other)
		}
	}
	for _, t := range ts {
		if t.isProxy() {
			if t.PeakKB, err = t.memKB("VmHWM"); err != nil {
				return err
			}
		}
	}
	// The routing target must have measured the route the bench means: its
	// own counters say which routes took the requests.
	var routes *routeCheck
	for _, t := range ts {
		if t.ID == tOutriggerRoute {
			c := checkRoutes(t)
			routes = &c
			if !c.ok() {
				fmt.Printf("WARNING: %s: %s\n", t.ID, c.note())
			}
		}
	}
	// The traffic-control targets must have measured what the bench means:
	// every request logged (or counted as dropped), none rate-limited.
	traffic := runTrafficChecks(ts)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	// The flame graph: one more Outrigger, after the rounds, so that the
	// profiler's cost touches no measured figure.
	var flame *flameResult
	if o.ProfileSecs > 0 {
		fmt.Printf("profiling one more Outrigger (run -pprof) for %d s under wrk\n", o.ProfileSecs)
		if flame, err = profileOutrigger(ctx, o, env, o.ProfileSecs, o.Out); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Printf("WARNING: no flame graph: %v\n", err)
		}
	}
	elapsed := time.Since(began)

	info := collectInfo(o, ts, backendAddr, consul, elapsed, strings.Join(os.Args, " "))
	info.Routes = routes
	info.Traffic = traffic
	info.LoadAvg = [2]string{loadBefore, loadAvg()}
	info.IdleBusy = quiet
	info.QuietWaited = quietWaited
	info.Repeated, info.Retries = repeated, o.Retries
	info.Flame = flame
	s := summarize(ts, o)
	md := renderMarkdown(info, s, o)
	if err := os.WriteFile(filepath.Join(o.Out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(o.Out, "results.png"), s, info); err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(renderStdout(s, o, info))
	fmt.Printf("\nwrote %s and %s (%s)\n", filepath.Join(o.Out, "results.md"), filepath.Join(o.Out, "results.png"),
		elapsed.Round(time.Second))
	return traffic.err()
}

func rotate(ts []*target, r int) []*target {
	n := len(ts)
	out := make([]*target, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ts[(i+r)%n])
	}
	return out
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
}

// startBackend runs `proxybench backend` on the load CPU and waits for its
// "listening ADDR" line.
func startBackend(self, cpu, kind, logPath string) (*target, string, error) {
	t := &target{ID: "backend", LogPath: logPath}
	t.Cmd = exec.Command("taskset", "-c", cpu, self, "backend", "-kind", kind)
	t.Cmd.Env = cleanEnv("GOMAXPROCS=1")
	t.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.CmdLine = "GOMAXPROCS=1 taskset -c " + cpu + " bin/proxybench backend -kind " + kind
	stdout, err := t.Cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	t.Cmd.Stderr = f
	if err := t.Cmd.Start(); err != nil {
		f.Close()
		return nil, "", err
	}
	t.done = make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { _ = t.Cmd.Wait(); f.Close(); close(t.done) }()
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			t.stop(time.Second)
			return nil, "", fmt.Errorf("backend said %q", l)
		}
		t.Addr = addr
		if err := t.waitReady(10 * time.Second); err != nil {
			t.stop(time.Second)
			return nil, "", err
		}
		return t, addr, nil
	case <-t.done:
		return nil, "", fmt.Errorf("backend exited: %s", tail(logPath, 10))
	case <-time.After(10 * time.Second):
		t.stop(time.Second)
		return nil, "", errors.New("backend did not start within 10s")
	}
}

// runInfo is what results.md says about the run itself.
type runInfo struct {
	Date, Machine, Kernel, CPUs, GoVersion string
	Versions                               []string
	Commands                               []string
	Configs                                []*target
	Elapsed                                time.Duration
	Backend                                string
	LoadAvg                                [2]string // /proc/loadavg before and after
	IdleBusy                               float64   // share of all CPUs busy in the second before the load
	QuietWaited                            time.Duration
	Repeated, Retries                      int           // runs repeated because of other load, and the limit
	Routes                                 *routeCheck   // the routing target's route counters, when it ran
	Traffic                                trafficChecks // the traffic-control targets' checks, of those that ran
	Flame                                  *flameResult  // the profile drawn as flame.svg (nil: none)
}

func collectInfo(o options, ts []*target, backendAddr string, consul *target, elapsed time.Duration, argv string) runInfo {
	in := runInfo{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), GoVersion: runtime.Version(), Elapsed: elapsed}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				in.Machine = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("getconf", "_NPROCESSORS_ONLN").Output(); err == nil {
		in.CPUs = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		in.Kernel = strings.TrimSpace(string(out))
	}
	first := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput()
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return strings.TrimSpace(l)
	}
	in.Versions = append(in.Versions, strings.Join(strings.Fields(first(o.Outrigger, "version")), " ")+
		" (commit "+shortCommit(o.Outrigger)+")")
	versioned := map[string]bool{}
	for _, t := range ts {
		switch t.Base {
		case tHAProxy, tHAProxyMTLS:
			if !versioned[tHAProxy] {
				v := strings.Fields(first(o.HAProxy, "-v")) // "HAProxy version 2.6.12-1 2023/01/01 - https://…"
				in.Versions = append(in.Versions, strings.Join(v[:min(3, len(v))], " "))
			}
			versioned[tHAProxy] = true
		case tNginx:
			if !versioned[tNginx] {
				in.Versions = append(in.Versions, first(o.Nginx, "-v"))
			}
			versioned[tNginx] = true
		}
	}
	in.Versions = append(in.Versions, wrkVersion(o.Wrk), "vegeta "+vegetaVersion()+" (as a library)", "harness built with "+runtime.Version())
	in.Backend = fmt.Sprintf("GOMAXPROCS=1 taskset -c %s bin/proxybench backend -kind %s   # listening on %s", o.LoadCPU, o.BackendKind, backendAddr)
	in.Commands = append(in.Commands, "taskset -c "+o.LoadCPU+" "+shortArgv(argv))
	in.Commands = append(in.Commands, in.Backend)
	if consul != nil {
		in.Versions = append(in.Versions, first(o.Consul, "version"))
		in.Commands = append(in.Commands, consul.CmdLine+"   # the mTLS targets' CA; HTTP API on "+consul.Addr)
	}
	for _, t := range ts {
		if !t.isProxy() {
			continue
		}
		if t.Peer != nil {
			in.Commands = append(in.Commands, t.Peer.CmdLine+"   # "+t.Peer.ID+", inbound on "+t.Peer.Addr)
		}
		in.Commands = append(in.Commands, t.CmdLine+"   # "+t.ID+", listening on "+t.Addr)
		if t.isVariant() {
			continue // the config of its base target, on other ports
		}
		in.Configs = append(in.Configs, t)
		if t.Peer != nil {
			in.Configs = append(in.Configs, t.Peer)
		}
	}
	for _, t := range ts {
		in.Commands = append(in.Commands, strings.Join(wrkArgs("wrk", o.LoadCPU, t.conns(o), o.TputDur, t.URL()), " ")+"   # "+t.ID)
	}
	in.Commands = append(in.Commands, fmt.Sprintf(
		"echo 'GET URL' | vegeta attack -rate %d -duration %s -workers C -connections C -max-connections C -max-body 0 -timeout 5s   # in-process (vegeta/lib), on CPU %s, each target's URL above, C its wrk -c",
		o.Rate, o.LatDur, o.LoadCPU))
	return in
}

func shortCommit(bin string) string {
	out, _ := exec.Command(bin, "version").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(l, "commit "); ok {
			if len(c) > 12 {
				c = c[:12]
			}
			return c
		}
	}
	return "unknown"
}

// shortArgv shows the harness as bin/proxybench.
func shortArgv(argv string) string {
	f := strings.Fields(argv)
	if len(f) > 0 {
		f[0] = "bin/proxybench"
	}
	return strings.Join(f, " ")
}
