package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
)

// binary is the outrigger executable built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outrigger-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "outrigger")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/outrigger-mesh/outrigger/cmd/outrigger")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building outrigger:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sidecarProc is a running outrigger process.
type sidecarProc struct {
	t          *testing.T
	cmd        *exec.Cmd
	admin      string            // bound admin address
	configFile string            // the config file it runs from
	listen     map[string]string // upstream name -> bound address
	logs       *logBuffer
	exited     chan struct{}
	err        error // Wait's result, valid after exited is closed
}

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(l string) {
	b.mu.Lock()
	b.lines = append(b.lines, l)
	b.mu.Unlock()
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// startSidecar writes yaml to a temp file and runs `outrigger run -c` on it
// with JSON logs. Listener addresses in the config should use port 0; the
// real ones are read from the "listening" log lines. It waits until every
// upstream listens and the admin API answers, and kills the process at
// cleanup if the test did not stop it.
func startSidecar(t *testing.T, yaml string) *sidecarProc {
	t.Helper()
	file := filepath.Join(t.TempDir(), "outrigger.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "-c", file)
	cmd.Env = append(os.Environ(), "OUTRIGGER_LOG_FORMAT=json", "OUTRIGGER_LOG_LEVEL=info")
	// An io.Pipe rather than StderrPipe: Wait then returns only after every
	// byte was copied in, so no log line (a race report at exit) is lost.
	stderr, stderrW := io.Pipe()
	cmd.Stderr = stderrW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sidecarProc{t: t, cmd: cmd, configFile: file, listen: map[string]string{}, logs: &logBuffer{}, exited: make(chan struct{})}
	found := make(chan struct{}, 64)
	var mu sync.Mutex
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			var rec struct{ Msg, Upstream, Addr string }
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			mu.Lock()
			switch rec.Msg {
			case "listening":
				p.listen[rec.Upstream] = rec.Addr
			case "admin listening":
				p.admin = rec.Addr
			}
			mu.Unlock()
			select {
			case found <- struct{}{}:
			default: // nobody is waiting for start-up any more
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		p.err = cmd.Wait()
		stderrW.Close()
		<-scanned
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in outrigger")
		}
		if t.Failed() {
			t.Logf("outrigger log:\n%s", p.logs)
		}
	})
	deadline := time.After(15 * time.Second)
	for {
		mu.Lock()
		ready := p.admin != ""
		mu.Unlock()
		if ready {
			break
		}
		select {
		case <-found:
		case <-p.exited:
			t.Fatalf("outrigger exited during start-up (%v):\n%s", p.err, p.logs)
		case <-deadline:
			t.Fatalf("outrigger did not log its admin address within 15s:\n%s", p.logs)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return p
}

// url is http://<listener of upstream>/path.
func (p *sidecarProc) url(upstream, path string) string {
	addr, ok := p.listen[upstream]
	if !ok {
		p.t.Fatalf("no listener logged for upstream %q", upstream)
	}
	return "http://" + addr + path
}

// signal sends sig and waits for exit, returning the exit code.
func (p *sidecarProc) stop(sig syscall.Signal, within time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("outrigger did not exit within %v of %v", within, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *sidecarProc) upstreams() admin.UpstreamsResponse {
	p.t.Helper()
	var body admin.UpstreamsResponse
	getJSON(p.t, "http://"+p.admin+"/upstreams", &body)
	return body
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getBody(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// instance is a real loopback HTTP backend that counts what it serves.
type instance struct {
	srv    *httptest.Server
	hits   atomic.Int64
	active atomic.Int64
}

func (i *instance) addr() string { return strings.TrimPrefix(i.srv.URL, "http://") }

// newInstance starts a backend answering 200 with its name after delay.
func newInstance(t *testing.T, name string, delay time.Duration) *instance {
	t.Helper()
	in := &instance{}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.hits.Add(1)
		in.active.Add(1)
		defer in.active.Add(-1)
		io.Copy(io.Discard, r.Body)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, name)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

// newGatedInstance starts a backend that holds every request until
// release is closed, then answers "done"; active counts the held ones.
func newGatedInstance(t *testing.T) (in *instance, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	in = newInstance(t, "gated", 0)
	in.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.active.Add(1)
		defer in.active.Add(-1)
		<-release
		io.WriteString(w, "done")
	})
	return in, release
}

// closedAddr is a loopback address with nothing listening.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// drive sends n GETs with c concurrent clients and returns the bodies'
// counts and the non-200 statuses. The loop is bounded by n and a deadline.
func drive(t *testing.T, url string, n, c int) (byBody map[string]int, bad []int) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: c}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	byBody = map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					mu.Lock()
					bad = append(bad, 0)
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == 200 {
					byBody[string(b)]++
				} else {
					bad = append(bad, resp.StatusCode)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return byBody, bad
}

// upstreamYAML renders a one-upstream config.
func upstreamYAML(lb string, timeout string, endpoints ...string) string {
	quoted := make([]string, len(endpoints))
	for i, e := range endpoints {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return fmt.Sprintf(`service:
  name: web
admin:
  listen: 127.0.0.1:0
drain_timeout: 10s
upstreams:
  - name: payments
    listen: 127.0.0.1:0
    lb: %s
    timeout: %s
    connect_timeout: 500ms
    endpoints: [%s]
`, lb, timeout, strings.Join(quoted, ", "))
}
