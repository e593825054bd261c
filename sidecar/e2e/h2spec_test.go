package e2e

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/discovery/consultest"
)

// h2specBinary is <repo>/bin/h2spec (summerwind/h2spec, built from
// deploy/tools/h2spec by `make tools`; make test builds it first).
func h2specBinary(t *testing.T) string { return consultest.ToolBinary(t, "h2spec") }

// h2specMinPassed is the bar of 145 cases (Caddy's h2c passes 140).
const h2specMinPassed = 140

// h2specKnownFailures are the cases the sidecar fails, all of them
// choices of net/http's HTTP/2 server (docs/http2.md gives the reasons).
// Any other failing case fails the test.
var h2specKnownFailures = map[string]bool{
	"http2/6.5.3: Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE":                                          true,
	"http2/8.1.2.2: Sends a HEADERS frame that contains the connection-specific header field":                     true,
	`http2/8.1.2.2: Sends a HEADERS frame that contains the TE header field with any value other than "trailers"`: true,
}

var h2specSummary = regexp.MustCompile(`(?m)^(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed$`)

// h2specReport is h2spec's JUnit report (-j), as far as it is read here.
type h2specReport struct {
	Suites []struct {
		Cases []struct {
			Package string  `xml:"package,attr"`
			Name    string  `xml:"classname,attr"`
			Error   *string `xml:"error"`
			Failure *string `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// failed lists the failing cases as "package: name" with what h2spec
// expected and saw.
func (r *h2specReport) failed() map[string]string {
	out := map[string]string{}
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Error != nil:
				out[c.Package+": "+c.Name] = *c.Error
			case c.Failure != nil:
				out[c.Package+": "+c.Name] = *c.Failure
			}
		}
	}
	return out
}

// TestH2specConformance runs every h2spec case against an http2 listener
// of the real binary, in front of an h2c backend that answers 200 with a
// body to everything.
func TestH2specConformance(t *testing.T) {
	t.Parallel()
	bin := h2specBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	backend := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello from the h2spec backend\n")
	})}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })

	p := startSidecar(t, http2YAML(ln.Addr().String()))
	host, port, err := net.SplitHostPort(p.listen["grpc"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-o", "5", "-j", report)
	out, err := cmd.CombinedOutput()
	// h2spec exits non-zero when any case fails; the summary decides.
	m := h2specSummary.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no h2spec summary (%v):\n%s", err, out)
	}
	total, passed, skipped := mustAtoi(m[1]), mustAtoi(m[2]), mustAtoi(m[3])
	t.Logf("h2spec: %s", m[0])
	if total != 145 || passed < h2specMinPassed {
		t.Errorf("h2spec: %s, want at least %d of 145 passed", m[0], h2specMinPassed)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r h2specReport
	if err := xml.Unmarshal(raw, &r); err != nil {
		t.Fatalf("h2spec's report: %v", err)
	}
	failed := r.failed()
	if len(failed) != total-passed-skipped {
		t.Errorf("the report lists %d failing cases, the summary %s", len(failed), m[4])
	}
	for name, detail := range failed {
		if !h2specKnownFailures[name] {
			t.Errorf("h2spec case failed: %s\n%s", name, detail)
		}
	}
}

// mustAtoi reads a number the summary's regexp matched.
func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
