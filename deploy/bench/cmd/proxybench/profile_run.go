package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/pprof/profile"
)

// flameResult is what results.md says about the profile.
type flameResult struct {
	File     string // flame.svg's name, beside results.md
	CmdLine  string
	Samples  int64
	Seconds  int
	WrkRPS   float64
	Top      []flameNode // the frames with the most self samples
	Profiled string      // what ran: target, connections, body
}

// profileOutrigger runs one more plain Outrigger (its own process, the
// measured ones stay as they were) with -pprof on the proxy CPU, puts it
// under one wrk run of secs+2 seconds after a short warm-up, fetches a
// CPU profile of secs seconds from its admin API meanwhile, and draws
// outDir/flame.svg from it. The raw profile stays in the work dir.
func profileOutrigger(ctx context.Context, o options, e benchEnv, secs int, outDir string) (*flameResult, error) {
	t, err := newTarget(tOutriggerProf, e)
	if err != nil {
		return nil, err
	}
	if err := t.start(); err != nil {
		return nil, err
	}
	defer t.stop(5 * time.Second)
	if err := t.waitReady(15 * time.Second); err != nil {
		return nil, err
	}
	if _, err := runWrk(ctx, o.Wrk, o.LoadCPU, o.Conns, 2*time.Second, t.URL()); err != nil {
		return nil, err
	}

	type wrkOut struct {
		r   wrkResult
		err error
	}
	done := make(chan wrkOut, 1)
	go func() {
		r, err := runWrk(ctx, o.Wrk, o.LoadCPU, o.Conns, time.Duration(secs+2)*time.Second, t.URL())
		done <- wrkOut{r, err}
	}()
	raw, perr := fetchProfile(ctx, t.Admin, secs)
	w := <-done
	if perr != nil {
		return nil, perr
	}
	if w.err != nil {
		return nil, w.err
	}
	if err := os.WriteFile(filepath.Join(e.WorkDir, "outrigger-cpu.pb.gz"), raw, 0o644); err != nil {
		return nil, err
	}
	prof, err := profile.ParseData(raw)
	if err != nil {
		return nil, fmt.Errorf("the CPU profile: %w", err)
	}
	root := buildFlame(prof)
	if root.Value == 0 {
		return nil, fmt.Errorf("the CPU profile has no samples")
	}
	res := &flameResult{File: "flame.svg", CmdLine: t.CmdLine, Samples: root.Value, Seconds: secs, WrkRPS: w.r.RPS,
		Top: topSelf(root, 8), Profiled: fmt.Sprintf("Outrigger (defaults, as `%s`), wrk with %d connections, 1 KiB responses", tOutrigger, o.Conns)}
	f, err := os.Create(filepath.Join(outDir, res.File))
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("Outrigger CPU profile: %d samples in %d s under wrk, %d connections, 1 KiB responses, one core", root.Value, secs, o.Conns)
	sub := fmt.Sprintf("%s; %.0f req/s; width = samples, callers below callees; hover a box for its full name", time.Now().UTC().Format("2006-01-02 15:04 MST"), w.r.RPS)
	if err := writeFlameSVG(f, root, title, sub); err != nil {
		f.Close()
		return nil, err
	}
	return res, f.Close()
}

// fetchProfile gets /debug/pprof/profile?seconds=secs from the admin API.
func fetchProfile(ctx context.Context, admin string, secs int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+10)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the CPU profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /debug/pprof/profile: %d %s", resp.StatusCode, b)
	}
	return b, nil
}
