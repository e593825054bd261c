package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A file with three mistakes: all three are printed with their key paths
// and the exit code is 2.
func TestValidateReportsEveryMistake(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte(`service:
  name: web
upstreams:
  - name: payments
    listen: 127.0.0.1:9001
    conect_timeout: 1s
    lb: fastest
    endpoints: ["127.0.0.1:7001"]
    outlier:
      interval: -1s
`), 0o644)
	cmd := exec.Command(binary, "validate", "-c", file)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	for _, key := range []string{"upstreams[0].conect_timeout", "upstreams[0].lb", "upstreams[0].outlier.interval"} {
		if !strings.Contains(string(out), file+": "+key+":") {
			t.Errorf("output lacks %q:\n%s", key, out)
		}
	}
}

func TestValidateOK(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ok.yaml")
	os.WriteFile(file, []byte(upstreamYAML("least_conn", "5s", "127.0.0.1:7001")), 0o644)
	out, err := exec.Command(binary, "validate", "-c", file).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok: 1 upstreams") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}

func TestRunWithBadConfigExits2(t *testing.T) {
	cmd := exec.Command(binary, "run", "-c", filepath.Join(t.TempDir(), "missing.yaml"))
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "missing.yaml") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	cmd := exec.Command(binary, "frobnicate")
	cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
