package consultest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot is the directory holding go.mod, found by walking up from the
// test's working directory (its package directory under `go test`).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the module root (go.mod) above the test's directory")
		}
		dir = parent
	}
}

// ToolBinary is <repo>/bin/<name>, one of the real peers `make tools`
// builds (consul, jaeger, h2spec). The tests need the real thing, so a
// missing binary fails the test, never skips it: a skip would pass CI
// without having tested anything.
func ToolBinary(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(ModuleRoot(t), "bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make tools` (or `make test`, which builds it) first", bin)
	}
	return bin
}

// FreePorts reserves n distinct loopback ports by binding 127.0.0.1:0 n
// times at once, then releases them for a child process to take. Another
// process may take one in between: Start retries for that reason.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}
