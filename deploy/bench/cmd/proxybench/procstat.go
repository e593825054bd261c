package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ (getconf CLK_TCK), the unit of
// utime and stime in /proc/<pid>/stat.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}

// procTree is pid and all its descendants (nginx's worker is a child of
// its master; HAProxy and Outrigger are single processes).
func procTree(pid int) []int {
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		p, pp, ok := statPPID(d)
		if ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the
// parenthesised command name: index 0 is field 3 (state).
func statFields(path string) ([]string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil, false
	}
	return strings.Fields(string(b[i+2:])), true
}

func statPPID(path string) (pid, ppid int, ok bool) {
	f, ok := statFields(path)
	if !ok || len(f) < 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(filepath.Base(filepath.Dir(path)))
	ppid, err2 := strconv.Atoi(f[1])
	return pid, ppid, err1 == nil && err2 == nil
}

// cpuTicks is utime+stime of pid and its descendants, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	var total int64
	for _, p := range procTree(pid) {
		f, ok := statFields(fmt.Sprintf("/proc/%d/stat", p))
		if !ok || len(f) < 13 {
			if p == pid {
				return 0, fmt.Errorf("cannot read /proc/%d/stat", p)
			}
			continue
		}
		// fields 14 (utime) and 15 (stime) are f[11] and f[12]
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		s, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("bad /proc/%d/stat", p)
		}
		total += u + s
	}
	return total, nil
}

// memKB sums a /proc/<pid>/status field (VmRSS or VmHWM, in kB) over pid
// and its descendants.
func memKB(pid int, field string) (int64, error) {
	var total int64
	for _, p := range procTree(pid) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			if p == pid {
				return 0, err
			}
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, field+":") {
				fs := strings.Fields(line[len(field)+1:])
				if len(fs) > 0 {
					n, _ := strconv.ParseInt(fs[0], 10, 64)
					total += n
				}
				break
			}
		}
		f.Close()
	}
	return total, nil
}

// machineBusyTicks is the busy time of all CPUs (everything in the "cpu"
// line of /proc/stat but idle and iowait), in clock ticks.
func machineBusyTicks() int64 {
	c := machineCPU()
	return c[0] - c[1]
}

// ourTicks is the CPU time of this process, everything it started that
// still runs (backend, proxies), and its reaped children (each wrk), in
// clock ticks.
func ourTicks() int64 {
	self := os.Getpid()
	t, _ := cpuTicks(self)
	if f, ok := statFields(fmt.Sprintf("/proc/%d/stat", self)); ok && len(f) >= 15 {
		cu, _ := strconv.ParseInt(f[13], 10, 64) // field 16, cutime
		cs, _ := strconv.ParseInt(f[14], 10, 64) // field 17, cstime
		t += cu + cs
	}
	return t
}

// otherLoad measures what the rest of the machine does while a run goes
// on: start it before the run, call the returned func after; the result is
// in cores (1.0 = one core busy all the time with processes not ours).
func otherLoad(hz float64) func() float64 {
	m0, o0, t0 := machineBusyTicks(), ourTicks(), time.Now()
	return func() float64 {
		m1, o1 := machineBusyTicks(), ourTicks()
		secs := time.Since(t0).Seconds()
		if secs <= 0 {
			return 0
		}
		return max(0, float64((m1-m0)-(o1-o0))/hz/secs)
	}
}

// waitQuiet waits, at most limit, until the machine is less than
// threshold busy (a share of all CPUs) over a 2-second window, and returns
// the last window's share and how long it waited.
func waitQuiet(ctx context.Context, limit time.Duration, threshold float64) (float64, time.Duration) {
	start := time.Now()
	var busy float64
	for {
		a := machineCPU()
		select {
		case <-ctx.Done():
			return busy, time.Since(start)
		case <-time.After(2 * time.Second):
		}
		busy = machineBusy(a, machineCPU())
		waited := time.Since(start)
		if busy < threshold || waited >= limit {
			return busy, waited
		}
		fmt.Printf("waiting for the machine to be quiet: %.0f%% busy (up to %s more)\n", busy*100, (limit - waited).Round(time.Second))
	}
}

// machineCPU is the "cpu" line of /proc/stat: total and idle (idle+iowait) ticks.
func machineCPU() [2]int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]int64{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return [2]int64{}
	}
	var total, idle int64
	for i, x := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, _ := strconv.ParseInt(x, 10, 64)
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return [2]int64{total, idle}
}

func machineBusy(a, b [2]int64) float64 {
	dt := b[0] - a[0]
	if dt <= 0 {
		return 0
	}
	return 1 - float64(b[1]-a[1])/float64(dt)
}

// loadAvg is the 1, 5 and 15-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
