// Package deploytest checks the deployment files under deploy/: every
// Outrigger config embedded in them (the compose config files, the
// Kubernetes ConfigMap, the Nomad template, the systemd example) is
// extracted and must pass validation, both through the config package and
// through a real `outrigger validate`; the platform settings that must agree
// with a config (grace periods against drain_timeout, probe ports against
// admin.listen, where the config file is mounted) are checked against it;
// and a config this package does not know how to extract fails the build,
// so that the coverage cannot silently rot. It has no non-test code.
package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// platformDirs are the directories under deploy/ whose files may hold
// Outrigger configs. Each needs an extractor in allConfigs.
var platformDirs = []string{"docker", "compose", "kubernetes", "nomad", "systemd"}

// embedded is one Outrigger config found in a deploy file.
type embedded struct {
	name string   // for messages: the file and where in it
	file string   // the file it is in, relative to deploy/, slash-separated
	data []byte   // the YAML as the sidecar reads it
	env  []string // the environment the platform gives the sidecar, with sample values

	// grace is how long the platform waits after SIGTERM before it kills
	// the sidecar; it must exceed drain_timeout.
	grace time.Duration
	// graceFrom names the setting grace comes from, for messages.
	graceFrom string
	// check runs platform-specific checks against the parsed config.
	check func(t *testing.T, cfg *config.Config)
}

// deployDir is the absolute path of deploy/ (the test runs in
// deploy/deploytest).
func deployDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func readDeploy(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// allConfigs extracts every config the deploy files embed.
func allConfigs(t *testing.T) []embedded {
	t.Helper()
	var all []embedded
	all = append(all, composeConfigs(t)...)
	all = append(all, kubernetesConfigs(t)...)
	all = append(all, nomadConfigs(t)...)
	all = append(all, systemdConfigs(t)...)
	if len(all) == 0 {
		t.Fatal("no configs found under deploy/")
	}
	return all
}

// TestConfigsValidate runs every embedded config through config.Parse,
// once with an empty environment and once with the one the platform
// provides, and through `outrigger validate -c FILE`.
func TestConfigsValidate(t *testing.T) {
	configs := allConfigs(t)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			cfg, warnings, err := config.Parse(c.name, "yaml", c.data, []string{})
			if err != nil {
				t.Fatalf("config.Parse: invalid config:\n%s", problems(err))
			}
			if len(warnings) > 0 {
				t.Errorf("config.Parse: warnings:\n%s", strings.Join(warnings, "\n"))
			}
			if len(c.env) > 0 {
				withEnv, warnings, err := config.Parse(c.name, "yaml", c.data, c.env)
				if err != nil {
					t.Fatalf("config.Parse with the platform's environment %q: invalid config:\n%s", c.env, problems(err))
				}
				if len(warnings) > 0 {
					t.Errorf("config.Parse with the platform's environment %q: warnings:\n%s", c.env, strings.Join(warnings, "\n"))
				}
				cfg = withEnv
			}
			if c.grace <= cfg.DrainTimeout {
				t.Errorf("%s (%s) must be longer than drain_timeout (%s), or the sidecar is killed mid-drain",
					c.graceFrom, c.grace, cfg.DrainTimeout)
			}
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}

	bin := buildOutrigger(t)
	dir := t.TempDir()
	for i, c := range configs {
		t.Run(c.name+"/outrigger_validate", func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", i))
			if err := os.WriteFile(file, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "validate", "-c", file)
			// Only the platform's variables: the caller's CONSUL_HTTP_ADDR,
			// OUTRIGGER_* or OTEL_* must not change the verdict.
			cmd.Env = append([]string{}, c.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err != nil {
				t.Fatalf("outrigger validate -c %s (%s): %v\nstdout:\n%s\nstderr:\n%s", file, c.name, err, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), "ok:") {
				t.Errorf("outrigger validate printed no \"ok:\" line:\n%s%s", &stdout, &stderr)
			}
			if strings.Contains(stdout.String(), "warning:") {
				t.Errorf("outrigger validate warns:\n%s", &stdout)
			}
		})
	}
}

// problems lists every problem of a config error, one per line.
func problems(err error) string {
	if ce, ok := errors.AsType[*config.Errors](err); ok {
		lines := make([]string, len(ce.Problems))
		for i, p := range ce.Problems {
			lines[i] = "  " + p.String()
		}
		return strings.Join(lines, "\n")
	}
	return "  " + err.Error()
}

// buildOutrigger builds cmd/outrigger into a temp dir.
func buildOutrigger(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "outrigger")
	build := exec.Command("go", "build", "-o", bin, "github.com/outrigger-mesh/outrigger/cmd/outrigger")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building outrigger: %v\n%s", err, out)
	}
	return bin
}

// configMarker finds a line that sets drain_timeout or upstreams, in
// YAML, TOML or JSON: what only an Outrigger config holds. Comments do not
// match.
var configMarker = regexp.MustCompile(`(?m)^[ \t]*"?(drain_timeout|upstreams)"?[ \t]*[:=]`)

// TestEveryConfigIsKnown fails when a file under deploy/{docker,compose,
// kubernetes,nomad,systemd} holds an Outrigger config that allConfigs does
// not extract (a new file, or a second config in a known one): every
// deploy config states drain_timeout (the platform's grace period is set
// against it), so a file must hold exactly as many drain_timeout keys as
// configs were extracted from it, and a file with an upstreams key must
// hold at least one.
func TestEveryConfigIsKnown(t *testing.T) {
	extracted := map[string]int{}
	for _, c := range allConfigs(t) {
		extracted[c.file]++
		var top map[string]any
		if err := yaml.Unmarshal(c.data, &top); err != nil {
			t.Errorf("%s: %v", c.name, err)
		} else if _, ok := top["drain_timeout"]; !ok {
			t.Errorf("%s: set drain_timeout explicitly: the platform's grace period is chosen against it", c.name)
		}
	}

	root := deployDir(t)
	seen := map[string]bool{}
	for _, dir := range platformDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			seen[rel] = true
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			drains, upstreams := 0, false
			for _, m := range configMarker.FindAllSubmatch(data, -1) {
				if string(m[1]) == "drain_timeout" {
					drains++
				} else {
					upstreams = true
				}
			}
			switch n := extracted[rel]; {
			case drains != n:
				t.Errorf("deploy/%s sets drain_timeout %d times but deploytest extracts %d configs from it: teach allConfigs about the new config", rel, drains, n)
			case upstreams && n == 0:
				t.Errorf("deploy/%s has an upstreams key but deploytest extracts no config from it: teach allConfigs about it", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for file := range extracted {
		if !seen[file] {
			t.Errorf("config extracted from deploy/%s, which is not under %v", file, platformDirs)
		}
	}
}

// --- Docker ---

// imageConfigPath is the config file the image's ENTRYPOINT runs with.
func imageConfigPath(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])\s*$`).FindAllSubmatch(readDeploy(t, "docker/Dockerfile"), -1)
	if len(m) == 0 {
		t.Fatal("deploy/docker/Dockerfile: no ENTRYPOINT")
	}
	// The last stage is the sidecar (the default target); exec form is JSON,
	// which YAML reads too.
	var argv []string
	if err := yaml.Unmarshal(m[len(m)-1][1], &argv); err != nil {
		t.Fatalf("deploy/docker/Dockerfile: ENTRYPOINT: %v", err)
	}
	if len(argv) != 4 || argv[1] != "run" || argv[2] != "-c" {
		t.Fatalf("deploy/docker/Dockerfile: the last ENTRYPOINT is %q, want [/outrigger run -c FILE]", argv)
	}
	return argv[3]
}

// --- Docker Compose ---

type composeFile struct {
	Services map[string]struct {
		Image           string   `yaml:"image"`
		Volumes         []string `yaml:"volumes"`
		StopGracePeriod string   `yaml:"stop_grace_period"`
		NetworkMode     string   `yaml:"network_mode"`
		Build           struct {
			Target string `yaml:"target"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// composeConfigs returns the config mounted into each sidecar service of
// compose/docker-compose.yml (a service built from the outrigger target).
func composeConfigs(t *testing.T) []embedded {
	t.Helper()
	const file = "compose/docker-compose.yml"
	var cf composeFile
	if err := yaml.Unmarshal(readDeploy(t, file), &cf); err != nil {
		t.Fatalf("deploy/%s: %v", file, err)
	}
	target := imageConfigPath(t)
	var out []embedded
	for _, name := range sortedKeys(cf.Services) {
		svc := cf.Services[name]
		if svc.Build.Target != "outrigger" {
			continue
		}
		var src string
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == target {
				src = parts[0]
			}
		}
		if src == "" {
			t.Fatalf("deploy/%s: service %s mounts nothing at %s, the config path of the image's ENTRYPOINT", file, name, target)
		}
		rel := path.Join(path.Dir(file), src)
		grace, err := time.ParseDuration(svc.StopGracePeriod)
		if err != nil {
			t.Fatalf("deploy/%s: service %s: stop_grace_period %q: %v (the default, 10s, is too short for a drain)", file, name, svc.StopGracePeriod, err)
		}
		app := strings.TrimPrefix(svc.NetworkMode, "service:")
		out = append(out, embedded{
			name:      rel,
			file:      rel,
			data:      readDeploy(t, rel),
			grace:     grace,
			graceFrom: "service " + name + " stop_grace_period",
			check: func(t *testing.T, cfg *config.Config) {
				if _, ok := cf.Services[app]; !ok || app == svc.NetworkMode {
					t.Errorf("service %s: network_mode %q should be service:APP, the app this sidecar sits beside", name, svc.NetworkMode)
				}
			},
		})
	}
	if len(out) == 0 {
		t.Fatalf("deploy/%s: no service built from the outrigger target", file)
	}
	return out
}

// --- Kubernetes ---

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	TerminationGracePeriodSeconds *int           `yaml:"terminationGracePeriodSeconds"`
	InitContainers                []k8sContainer `yaml:"initContainers"`
	Containers                    []k8sContainer `yaml:"containers"`
	Volumes                       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string         `yaml:"name"`
		Value     *string        `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	} `yaml:"env"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
	SecurityContext struct {
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
		Capabilities           struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

// k8sSamples stand in for the values the kubelet fills in.
var k8sSamples = map[string]string{
	"status.hostIP":   "10.0.0.1",
	"status.podIP":    "10.1.0.5",
	"secretKeyRef":    "sample-token",
	"limits.memory":   "134217728",
	"metadata.name":   "web-5d8f7c9b4-abcde",
	"configMapKeyRef": "sample",
}

// kubernetesConfigs returns every data entry of every ConfigMap in
// kubernetes/*.yaml that a sidecar container (one whose image is outrigger)
// mounts, with that container's environment and its pod's grace period.
func kubernetesConfigs(t *testing.T) []embedded {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir(t), "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	target := imageConfigPath(t)
	var out []embedded
	for _, f := range files {
		rel := "kubernetes/" + filepath.Base(f)
		objs := decodeAll(t, rel)
		configMaps := map[string]k8sObject{}
		for _, o := range objs {
			if o.Kind == "ConfigMap" {
				configMaps[o.Metadata.Name] = o
			}
		}
		for _, o := range objs {
			pod := o.Spec.Template.Spec
			for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
				if !strings.HasPrefix(path.Base(c.Image), "outrigger:") {
					continue
				}
				out = append(out, k8sSidecar(t, rel, o, pod, c, configMaps, target)...)
			}
		}
	}
	return out
}

func k8sSidecar(t *testing.T, rel string, o k8sObject, pod k8sPodSpec, c k8sContainer, configMaps map[string]k8sObject, target string) []embedded {
	t.Helper()
	where := fmt.Sprintf("deploy/%s: %s %s container %s", rel, o.Kind, o.Metadata.Name, c.Name)
	if len(c.Command) > 0 || len(c.Args) > 0 {
		t.Fatalf("%s: overrides the image's entrypoint; teach deploytest which config it reads", where)
	}
	// The ConfigMap mounted on the directory of the image's config path.
	var cmName string
	for _, m := range c.VolumeMounts {
		if m.MountPath != path.Dir(target) {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("%s: mounts the config with subPath, which never sees ConfigMap updates", where)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cmName = v.ConfigMap.Name
			}
		}
	}
	cm, ok := configMaps[cmName]
	if !ok {
		t.Fatalf("%s: no ConfigMap from this file mounted at %s", where, path.Dir(target))
	}
	data, ok := cm.Data[path.Base(target)]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s", where, cmName, path.Base(target))
	}
	if len(cm.Data) != 1 {
		t.Errorf("deploy/%s: ConfigMap %s: want only %s, got keys %q", rel, cmName, path.Base(target), sortedKeys(cm.Data))
	}

	env := k8sEnv(t, where, c)
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatalf("%s: set terminationGracePeriodSeconds (the default, 30s, leaves the app no time before the drain)", where)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	return []embedded{{
		name:      fmt.Sprintf("%s/ConfigMap_%s/%s", rel, cmName, path.Base(target)),
		file:      rel,
		data:      []byte(data),
		env:       env,
		grace:     time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second,
		graceFrom: "terminationGracePeriodSeconds",
		check: func(t *testing.T, cfg *config.Config) {
			probePort := checkProbeAddress(t, where, cfg)
			_, adminPort, _ := net.SplitHostPort(cfg.Admin.Listen)
			for _, p := range c.Ports {
				if strconv.Itoa(p.ContainerPort) == adminPort {
					t.Errorf("%s: declares containerPort %d (%s), the loopback admin API's port", where, p.ContainerPort, p.Name)
				}
			}
			for _, p := range []struct {
				name, path string
				probe      *k8sProbe
			}{
				{"livenessProbe", "/healthz", c.LivenessProbe},
				{"readinessProbe", "/ready", c.ReadinessProbe},
				{"startupProbe", "/healthz", c.StartupProbe},
			} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%s: want an httpGet %s on %s", where, p.name, p.path)
					continue
				}
				if p.probe.HTTPGet.Path != p.path {
					t.Errorf("%s: %s path %q, want %q", where, p.name, p.probe.HTTPGet.Path, p.path)
				}
				port := fmt.Sprint(p.probe.HTTPGet.Port)
				if n, ok := ports[port]; ok {
					port = strconv.Itoa(n)
				}
				if port != probePort {
					t.Errorf("%s: %s on port %v, but admin.probe_listen is %s", where, p.name, p.probe.HTTPGet.Port, cfg.Admin.ProbeListen)
				}
			}
			if cfg.Service.Register && cfg.Service.Address != k8sSamples["status.podIP"] {
				t.Errorf("%s: registers service.address %q; set OUTRIGGER_SERVICE_ADDRESS from status.podIP", where, cfg.Service.Address)
			}
			if want := k8sSamples["status.hostIP"] + ":8500"; cfg.Consul.Address != want {
				t.Errorf("%s: consul.address %q, want the node's agent (%s, from CONSUL_HTTP_ADDR)", where, cfg.Consul.Address, want)
			}
			if !c.SecurityContext.ReadOnlyRootFilesystem || !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") {
				t.Errorf("%s: want readOnlyRootFilesystem and capabilities drop ALL", where)
			}
		},
	}}
}

// k8sEnv resolves a container's env list as the kubelet would, with sample
// values for fieldRef, resourceFieldRef and secrets, and $(VAR) expanded
// from the variables defined before it.
func k8sEnv(t *testing.T, where string, c k8sContainer) []string {
	t.Helper()
	vars := map[string]string{}
	var env []string
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		var v string
		switch {
		case e.Value != nil:
			v = ref.ReplaceAllStringFunc(*e.Value, func(m string) string {
				name := m[2 : len(m)-1]
				val, ok := vars[name]
				if !ok {
					t.Errorf("%s: env %s refers to %s, which is not defined before it", where, e.Name, m)
				}
				return val
			})
		case e.ValueFrom != nil:
			v = k8sSample(e.ValueFrom)
			if v == "" {
				t.Fatalf("%s: env %s: no sample value for valueFrom %v; add one to k8sSamples", where, e.Name, e.ValueFrom)
			}
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env
}

func k8sSample(from map[string]any) string {
	for kind, spec := range from {
		if s, ok := k8sSamples[kind]; ok {
			return s
		}
		if m, ok := spec.(map[string]any); ok {
			for _, key := range []string{"fieldPath", "resource"} {
				if s, ok := m[key].(string); ok {
					return k8sSamples[s]
				}
			}
		}
	}
	return ""
}

// decodeAll decodes every document of a multi-document YAML file.
func decodeAll(t *testing.T, rel string) []k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readDeploy(t, rel)))
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("deploy/%s: document %d: %v", rel, len(objs)+1, err)
		}
		if o.Kind == "" {
			t.Fatalf("deploy/%s: document %d has no kind", rel, len(objs)+1)
		}
		objs = append(objs, o)
	}
}

// TestKubernetesYAMLParses checks that every Kubernetes file parses as YAML
// and names an apiVersion and kind in every document.
func TestKubernetesYAMLParses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(deployDir(t), "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/kubernetes/*.yaml (%v)", err)
	}
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(readDeploy(t, "kubernetes/"+filepath.Base(f))))
		for i := 1; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if doc["apiVersion"] == nil || doc["kind"] == nil {
				t.Errorf("%s: document %d lacks apiVersion or kind", f, i)
			}
		}
	}
}

// TestComposeYAMLParses checks that the compose file parses as YAML, that
// every service has an image, and that every bind-mounted file exists.
func TestComposeYAMLParses(t *testing.T) {
	const file = "compose/docker-compose.yml"
	var doc map[string]any
	if err := yaml.Unmarshal(readDeploy(t, file), &doc); err != nil {
		t.Fatalf("deploy/%s: %v", file, err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(readDeploy(t, file), &cf); err != nil {
		t.Fatalf("deploy/%s: %v", file, err)
	}
	if len(cf.Services) == 0 {
		t.Fatalf("deploy/%s: no services", file)
	}
	for _, name := range sortedKeys(cf.Services) {
		svc := cf.Services[name]
		if svc.Image == "" {
			t.Errorf("service %s: no image", name)
		}
		for _, v := range svc.Volumes {
			src := strings.Split(v, ":")[0]
			if !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(deployDir(t), "compose", filepath.FromSlash(src))); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

// --- Nomad ---

var (
	// nomadTask finds the start of each task block.
	nomadTask = regexp.MustCompile(`(?m)^[ \t]*task[ \t]+"([^"]+)"[ \t]*\{`)
	// nomadHeredoc finds `data = <<EOF` or `<<-EOF`, up to the marker line.
	nomadHeredoc = regexp.MustCompile(`(?m)^[ \t]*data[ \t]*=[ \t]*<<(-?)([A-Za-z_]+)\n`)
	// nomadEnv finds a task's env block, up to the line that closes it.
	nomadEnv = regexp.MustCompile(`(?ms)^[ \t]*env[ \t]*\{[ \t]*\n(.*?)^[ \t]*\}[ \t]*$`)
	// nomadAssign is one `KEY = "value"` line.
	nomadAssign = regexp.MustCompile(`(?m)^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"([^"]*)"`)
	// nomadInterp is a ${...} interpolation.
	nomadInterp = regexp.MustCompile(`\$\{([^}]+)\}`)
)

// nomadSamples stand in for what Nomad interpolates in env.
var nomadSamples = map[string]string{
	"attr.unique.network.ip-address": "10.0.0.1",
	"NOMAD_ALLOC_INDEX":              "0",
}

// nomadConfigs returns the data of every template in nomad/*.hcl whose
// destination is a .yaml file, with its task's env and kill_timeout.
func nomadConfigs(t *testing.T) []embedded {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir(t), "nomad", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []embedded
	for _, f := range files {
		rel := "nomad/" + filepath.Base(f)
		src := string(readDeploy(t, rel))
		groupOf := nomadGroups(t, rel, src)
		starts := nomadTask.FindAllStringSubmatchIndex(src, -1)
		for i, s := range starts {
			end := len(src)
			if i+1 < len(starts) {
				end = starts[i+1][0]
			}
			task, body := src[s[2]:s[3]], src[s[0]:end]
			for _, e := range nomadTaskConfigs(t, rel, task, body) {
				// The group runs the checks (probe_test.go).
				g, taskCheck := groupOf[task], e.check
				e.check = func(t *testing.T, cfg *config.Config) {
					taskCheck(t, cfg)
					checkNomadProbes(t, fmt.Sprintf("deploy/%s: group %s", rel, strings.Join(g.labels, " ")), g, task, cfg)
				}
				out = append(out, e)
			}
		}
	}
	return out
}

func nomadTaskConfigs(t *testing.T, rel, task, body string) []embedded {
	t.Helper()
	where := fmt.Sprintf("deploy/%s: task %s", rel, task)
	var out []embedded
	for _, m := range nomadHeredoc.FindAllStringSubmatchIndex(body, -1) {
		flush, marker := body[m[2]:m[3]] == "-", body[m[4]:m[5]]
		rest := body[m[1]:]
		endRe := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(marker) + `[ \t]*$`)
		loc := endRe.FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("%s: heredoc %s is not closed", where, marker)
		}
		data := rest[:loc[0]]
		if flush {
			data = dedent(data)
		}
		// The template's destination: the first one after the heredoc, or
		// before it in the same template block.
		dest := regexp.MustCompile(`destination[ \t]*=[ \t]*"([^"]+)"`)
		tmplStart := strings.LastIndex(body[:m[0]], "template")
		d := dest.FindStringSubmatch(body[tmplStart:m[0]])
		if d == nil {
			d = dest.FindStringSubmatch(rest[loc[1]:])
		}
		if d == nil || !strings.HasSuffix(d[1], ".yaml") {
			continue
		}
		if strings.Contains(data, "{{") {
			t.Errorf("%s: the template for %s uses template functions; keep Nomad values in env so that the YAML can be validated as it stands", where, d[1])
		}

		env := nomadTaskEnv(t, where, body)
		killTimeout := regexp.MustCompile(`(?m)^[ \t]*kill_timeout[ \t]*=[ \t]*"([^"]+)"`).FindStringSubmatch(body)
		if killTimeout == nil {
			t.Fatalf("%s: no kill_timeout (Nomad's default, 5s, is shorter than any drain)", where)
		}
		grace, err := time.ParseDuration(killTimeout[1])
		if err != nil {
			t.Fatalf("%s: kill_timeout: %v", where, err)
		}
		entry := regexp.MustCompile(`entrypoint[ \t]*=[ \t]*(\[[^\]]*\])`).FindStringSubmatch(body)
		dst := d[1]
		out = append(out, embedded{
			name:      fmt.Sprintf("%s/task_%s/%s", rel, task, path.Base(dst)),
			file:      rel,
			data:      []byte(data),
			env:       env,
			grace:     grace,
			graceFrom: "task " + task + " kill_timeout",
			check: func(t *testing.T, cfg *config.Config) {
				// The docker driver mounts the task's local/ at /local.
				var argv []string
				if entry == nil || yaml.Unmarshal([]byte(entry[1]), &argv) != nil || len(argv) != 4 || argv[3] != "/"+dst {
					t.Errorf("%s: the entrypoint should run the sidecar with -c /%s, where the template renders (got %v)", where, dst, argv)
				}
				if want := nomadSamples["attr.unique.network.ip-address"] + ":8500"; cfg.Consul.Address != want {
					t.Errorf("%s: consul.address %q, want the node's agent (%s, from CONSUL_HTTP_ADDR)", where, cfg.Consul.Address, want)
				}
			},
		})
	}
	return out
}

// nomadTaskEnv returns a task's env block with interpolations replaced by
// samples.
func nomadTaskEnv(t *testing.T, where, body string) []string {
	t.Helper()
	block := nomadEnv.FindStringSubmatch(body)
	if block == nil {
		return nil
	}
	var env []string
	for _, a := range nomadAssign.FindAllStringSubmatch(block[1], -1) {
		v := nomadInterp.ReplaceAllStringFunc(a[2], func(m string) string {
			s, ok := nomadSamples[m[2:len(m)-1]]
			if !ok {
				t.Errorf("%s: env %s: no sample value for %s; add one to nomadSamples", where, a[1], m)
			}
			return s
		})
		env = append(env, a[1]+"="+v)
	}
	return env
}

// dedent removes the indentation common to all non-blank lines, as HCL's
// <<- heredoc does.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		} else if strings.TrimSpace(l) == "" {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// --- systemd ---

// systemdConfigs returns the example config of each unit in systemd/: the
// file its ExecStart runs with, shipped beside it under the same base name.
func systemdConfigs(t *testing.T) []embedded {
	t.Helper()
	units, err := filepath.Glob(filepath.Join(deployDir(t), "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no deploy/systemd/*.service (%v)", err)
	}
	var out []embedded
	for _, u := range units {
		rel := "systemd/" + filepath.Base(u)
		unit := parseUnit(t, rel)
		execStart := unit["ExecStart"]
		if len(execStart) != 1 {
			t.Fatalf("deploy/%s: want one ExecStart, got %q", rel, execStart)
		}
		f := strings.Fields(execStart[0])
		if len(f) != 4 || f[1] != "run" || f[2] != "-c" {
			t.Fatalf("deploy/%s: ExecStart %q, want BINARY run -c FILE", rel, execStart[0])
		}
		configPath := f[3]
		example := "systemd/" + path.Base(configPath)
		grace := systemdDuration(t, rel, unit, "TimeoutStopSec")
		out = append(out, embedded{
			name:      example,
			file:      example,
			data:      readDeploy(t, example),
			env:       systemdEnv(unit),
			grace:     grace,
			graceFrom: rel + " TimeoutStopSec",
			check: func(t *testing.T, cfg *config.Config) {
				if !slices.Equal(unit["ExecReload"][len(unit["ExecReload"])-1:], []string{"/bin/kill -HUP $MAINPID"}) {
					t.Errorf("deploy/%s: the last ExecReload should send SIGHUP: /bin/kill -HUP $MAINPID, got %q", rel, unit["ExecReload"])
				}
				if snap := cfg.Consul.SnapshotFile; snap != "" {
					states := unit["StateDirectory"]
					if len(states) != 1 || path.Dir(snap) != "/var/lib/"+states[0] {
						t.Errorf("deploy/%s: consul.snapshot_file %s is not in the unit's StateDirectory (%q), the only writable place", rel, snap, states)
					}
				}
				if host, _, _ := net.SplitHostPort(cfg.Admin.Listen); host != "127.0.0.1" && host != "localhost" && host != "::1" {
					t.Errorf("deploy/%s: admin.listen %s: keep the admin API on loopback on a host", example, cfg.Admin.Listen)
				}
			},
		})
	}
	return out
}

// parseUnit reads a systemd unit into key -> values (in order), ignoring
// sections and comments.
func parseUnit(t *testing.T, rel string) map[string][]string {
	t.Helper()
	unit := map[string][]string{}
	for _, line := range strings.Split(string(readDeploy(t, rel)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("deploy/%s: cannot read line %q", rel, line)
		}
		unit[strings.TrimSpace(k)] = append(unit[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return unit
}

// systemdDuration reads a time span setting: a bare number is seconds.
func systemdDuration(t *testing.T, rel string, unit map[string][]string, key string) time.Duration {
	t.Helper()
	v := unit[key]
	if len(v) != 1 {
		t.Fatalf("deploy/%s: want one %s (the default, 90s, is not tied to drain_timeout), got %q", rel, key, v)
	}
	s := v[0]
	if _, err := strconv.Atoi(s); err == nil {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("deploy/%s: %s=%s: %v", rel, key, v[0], err)
	}
	return d
}

// systemdEnv returns the unit's Environment= assignments.
func systemdEnv(unit map[string][]string) []string {
	var env []string
	for _, v := range unit["Environment"] {
		env = append(env, strings.Fields(strings.Trim(v, `"`))...)
	}
	return env
}

// TestSystemdHardening checks that the unit keeps the sandbox settings the
// README promises.
func TestSystemdHardening(t *testing.T) {
	unit := parseUnit(t, "systemd/outrigger.service")
	want := map[string]string{
		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"Restart":                 "on-failure",
		"StateDirectory":          "outrigger",
	}
	for _, k := range sortedKeys(want) {
		if v := unit[k]; len(v) != 1 || v[0] != want[k] {
			t.Errorf("%s=%q, want %q", k, v, want[k])
		}
	}
	if v := unit["SystemCallFilter"]; len(v) == 0 || v[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", v)
	}
}

// TestDockerfile checks the parts of the Dockerfile the other files rely on.
func TestDockerfile(t *testing.T) {
	src := string(readDeploy(t, "docker/Dockerfile"))
	for _, want := range []string{
		"FROM golang:1.26 ",
		"CGO_ENABLED=0 go build -trimpath",
		"-X main.version=${VERSION} -X main.commit=${COMMIT}",
		"FROM gcr.io/distroless/static-debian12:nonroot AS outrigger",
		"FROM gcr.io/distroless/static-debian12:nonroot AS demo-service",
		"USER 65532:65532",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("deploy/docker/Dockerfile lacks %q", want)
		}
	}
	if got := imageConfigPath(t); got != "/etc/outrigger/outrigger.yaml" {
		t.Errorf("the image's config path is %s", got)
	}
	// Every package it builds exists.
	root := filepath.Dir(deployDir(t))
	for _, m := range regexp.MustCompile(`\./cmd/[a-z-]+`).FindAllString(src, -1) {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m))); err != nil {
			t.Errorf("the Dockerfile builds %s: %v", m, err)
		}
	}
	// The last stage, the default target, is the sidecar.
	froms := regexp.MustCompile(`(?m)^FROM .* AS ([a-z-]+)\s*$`).FindAllStringSubmatch(src, -1)
	if len(froms) == 0 || froms[len(froms)-1][1] != "outrigger" {
		t.Errorf("the last stage should be the outrigger image (the default target)")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
