package deploytest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// checkProbeAddress checks what the orchestrated configs (Kubernetes,
// Nomad) must hold: the admin API, which shows the config and every
// endpoint without authentication, on loopback and without allow_remote;
// and admin.probe_listen, serving only /healthz and /ready, on every
// interface, because the prober (the kubelet, the node's Consul agent)
// comes from outside the pod's or group's namespace. It returns the probe
// address's port, "" without one.
func checkProbeAddress(t *testing.T, where string, cfg *config.Config) string {
	t.Helper()
	if host, _, err := net.SplitHostPort(cfg.Admin.Listen); err != nil || !isLoopback(host) {
		t.Errorf("%s: admin.listen %s: keep the admin API on loopback and probe admin.probe_listen instead", where, cfg.Admin.Listen)
	}
	if cfg.Admin.AllowRemote {
		t.Errorf("%s: admin.allow_remote is true: it exposes /config and /upstreams; probes need only admin.probe_listen", where)
	}
	if cfg.Admin.ProbeListen == "" {
		t.Errorf("%s: no admin.probe_listen for the orchestrator's probes", where)
		return ""
	}
	host, port, err := net.SplitHostPort(cfg.Admin.ProbeListen)
	if err != nil {
		t.Errorf("%s: admin.probe_listen %s: %v", where, cfg.Admin.ProbeListen, err)
		return ""
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: admin.probe_listen %s: the prober comes from outside the namespace; listen on every interface", where, cfg.Admin.ProbeListen)
	}
	return port
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// --- Nomad: the group's network ports and service checks ---

// nomadGroups parses a job file and returns the group block of each task,
// by task name.
func nomadGroups(t *testing.T, rel, src string) map[string]hclBlock {
	t.Helper()
	top, err := hclBlocks(src)
	if err != nil {
		t.Fatalf("deploy/%s: %v", rel, err)
	}
	if len(top) != 1 || top[0].typ != "job" || len(top[0].labels) != 1 {
		t.Fatalf("deploy/%s: want one job \"NAME\" block at the top, got %d blocks", rel, len(top))
	}
	groups, err := top[0].children("group")
	if err != nil || len(groups) == 0 {
		t.Fatalf("deploy/%s: no group blocks (%v)", rel, err)
	}
	byTask := map[string]hclBlock{}
	for _, g := range groups {
		if len(g.labels) != 1 {
			t.Fatalf("deploy/%s: a group block with labels %q", rel, g.labels)
		}
		tasks, err := g.children("task")
		if err != nil || len(tasks) == 0 {
			t.Fatalf("deploy/%s: group %s has no task blocks (%v)", rel, g.labels[0], err)
		}
		for _, task := range tasks {
			name := strings.Join(task.labels, " ")
			if _, dup := byTask[name]; dup || len(task.labels) != 1 {
				t.Fatalf("deploy/%s: task %q is not one uniquely named task", rel, name)
			}
			if task.attr("driver") == "" {
				t.Errorf("deploy/%s: task %s has no driver", rel, name)
			}
			byTask[name] = g
		}
	}
	return byTask
}

// checkNomadProbes checks the group's service checks against the config of
// its sidecar task: a /ready check and a /healthz check with
// check_restart on the sidecar task, both on the network port mapped to
// admin.probe_listen, and no port mapped to the loopback admin API.
func checkNomadProbes(t *testing.T, where string, group hclBlock, task string, cfg *config.Config) {
	t.Helper()
	probePort := checkProbeAddress(t, where, cfg)
	_, adminPort, _ := net.SplitHostPort(cfg.Admin.Listen)
	// Port label -> the port inside the group's namespace.
	ports := map[string]string{}
	networks, err := group.children("network")
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, n := range networks {
		ps, err := n.children("port")
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, p := range ps {
			to := p.attr("to")
			ports[strings.Join(p.labels, " ")] = to
			if to == adminPort {
				t.Errorf("%s: port %q maps to %s, the loopback admin API's port", where, p.labels, to)
			}
		}
	}
	services, err := group.children("service")
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	found := map[string]bool{}
	for _, svc := range services {
		checks, err := svc.children("check")
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, c := range checks {
			path := c.attr("path")
			if path != "/ready" && path != "/healthz" {
				continue
			}
			label := c.attr("port")
			if label == "" {
				label = svc.attr("port")
			}
			name := fmt.Sprintf("%s: service %s check %s", where, svc.attr("name"), path)
			if c.attr("type") != "http" {
				t.Errorf("%s: type %q, want http", name, c.attr("type"))
			}
			if to, ok := ports[label]; !ok || to != probePort {
				t.Errorf("%s: on port %q (to %q), want the one mapped to admin.probe_listen %s", name, label, to, cfg.Admin.ProbeListen)
			}
			if path == "/healthz" {
				// Liveness: a failing sidecar is restarted, and only it.
				restarts, _ := c.children("check_restart")
				if len(restarts) != 1 || restarts[0].attr("limit") == "" || restarts[0].attr("limit") == "0" {
					t.Errorf("%s: want a check_restart with a limit (a liveness check restarts the sidecar)", name)
				}
				if c.attr("task") != task {
					t.Errorf("%s: task %q, want %q: check_restart restarts the check's task", name, c.attr("task"), task)
				}
			}
			found[path] = true
		}
	}
	for _, path := range []string{"/ready", "/healthz"} {
		if !found[path] {
			t.Errorf("%s: no service check on %s at admin.probe_listen", where, path)
		}
	}
}

// TestNomadHCLParses checks that every Nomad job file is well formed as far
// as hclBlocks reads it (balanced braces, closed strings and heredocs), with
// one job of groups of named tasks.
func TestNomadHCLParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(deployDir(t), "nomad", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/nomad/*.hcl (%v)", err)
	}
	for _, f := range files {
		rel := "nomad/" + filepath.Base(f)
		if n := len(nomadGroups(t, rel, string(readDeploy(t, rel)))); n == 0 {
			t.Errorf("deploy/%s: no tasks", rel)
		}
	}
}

// hclBlocks must not be fooled by braces in strings, comments or heredocs,
// nor accept what does not balance; attr reads only the block's own
// attributes.
func TestHCLScanner(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		blocks    string // "type:labels,..." of the top-level blocks
		err       string
	}{
		{"nested", "job \"a\" {\n group \"g\" {\n  task \"t\" {}\n }\n}\n", "job:a", ""},
		{"string braces", "a {\n x = \"${y}}}\"\n}\nb {}\n", "a:,b:", ""},
		{"comments", "# }\n// {\n/* } */\na {}\n", "a:", ""},
		{"heredoc", "a {\n data = <<-EOF\n  }}}\n  EOF\n}\n", "a:", ""},
		{"object attribute", "meta = {\n x = 1\n}\na {}\n", "a:", ""},
		{"unclosed", "a {\n b {\n}\n", "", "unclosed {"},
		{"extra close", "a {}\n}\n", "", "} without {"},
		{"unclosed string", "a {\n x = \"y\n}\n", "", "unclosed string"},
		{"unclosed heredoc", "a {\n d = <<EOF\n x\n}\n", "", "heredoc EOF is not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := hclBlocks(tc.src)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range blocks {
				got = append(got, b.typ+":"+strings.Join(b.labels, " "))
			}
			if strings.Join(got, ",") != tc.blocks {
				t.Fatalf("blocks %q, want %s", got, tc.blocks)
			}
		})
	}
	b := hclBlock{body: "\n port = \"outer\"\n check {\n  port = \"inner\"\n  limit = 3\n }\n n = 7\n"}
	if b.attr("port") != "outer" || b.attr("limit") != "" || b.attr("n") != "7" {
		t.Fatalf("attr: port %q limit %q n %q", b.attr("port"), b.attr("limit"), b.attr("n"))
	}
}
