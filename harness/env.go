package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/envs"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/oci"
	"gopkg.in/yaml.v3"
)

// EnvFile is a file of environment specs (YAML or JSON).
type EnvFile struct {
	// Version is the file format version; 1 is the only one.
	Version      int    `yaml:"version" json:"version"`
	Environments []*Env `yaml:"environments" json:"environments"`
}

// Env is a declarative environment for one repository and some of its
// versions: what runs once and is cached (Setup), what runs before every
// evaluation (Install), how tests run and how their log is read.
type Env struct {
	// Name labels the environment in messages (default "repo@versions").
	Name string `yaml:"name" json:"name,omitempty"`
	// Repo is "owner/name".
	Repo string `yaml:"repo" json:"repo"`
	// Versions are the instance versions this spec serves; "*" serves all.
	Versions []string `yaml:"versions" json:"versions"`
	// Interpreter, if set, is what "python" and "python3" run in the sandbox.
	Interpreter string `yaml:"interpreter" json:"interpreter,omitempty"`
	// Path entries are put in front of PATH.
	Path []string `yaml:"path" json:"path,omitempty"`
	// Setup commands run once per base commit in /repo, with /env
	// writable; what they write is cached as a read-only layer keyed by
	// the hash of this spec's inputs.
	Setup []string `yaml:"setup" json:"setup,omitempty"`
	// Install runs before every evaluation, after the model patch.
	Install string `yaml:"install" json:"install,omitempty"`
	// TestCmd runs the tests; the test files of the test patch are
	// appended as arguments.
	TestCmd string `yaml:"test_cmd" json:"test_cmd"`
	// TestFiles is "append" (default: the test patch's files are appended
	// to TestCmd, as SWE-bench does) or "none" (TestCmd runs as written,
	// e.g. `go test ./...`).
	TestFiles string `yaml:"test_files" json:"test_files,omitempty"`
	// Runner is "pytest" or "other"; empty means pytest when TestCmd runs
	// pytest. Under pytest the grader's guard plugin is loaded first and
	// plugin autoloading is off (see guard.go).
	Runner string `yaml:"runner" json:"runner,omitempty"`
	// Plugins are pytest plugins (module names) the tests need, loaded
	// with -p since entry points are not autoloaded, e.g.
	// pytest_httpbin.plugin.
	Plugins []string `yaml:"plugins" json:"plugins,omitempty"`
	// PluginAutoload lets pytest load every installed plugin's entry
	// point (PYTEST_DISABLE_PLUGIN_AUTOLOAD unset); an explicit opt-in,
	// since a patch can add an entry point.
	PluginAutoload bool `yaml:"plugin_autoload" json:"plugin_autoload,omitempty"`
	// Parser names the log parser (logparse names or SWE-bench's);
	// default: the instance's log_parser, then SWE-bench's choice for Repo.
	Parser string `yaml:"parser" json:"parser,omitempty"`
	// Env is added to the environment of every command.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Timeout bounds the test command (default 30m) and SetupTimeout the
	// setup (default 30m).
	Timeout      Duration `yaml:"timeout" json:"timeout,omitempty"`
	SetupTimeout Duration `yaml:"setup_timeout" json:"setup_timeout,omitempty"`
	// MemoryMB, Pids and CPUs bound each run (defaults: agora.DefaultLimits()).
	MemoryMB int64   `yaml:"memory_mb" json:"memory_mb,omitempty"`
	Pids     int64   `yaml:"pids" json:"pids,omitempty"`
	CPUs     float64 `yaml:"cpus" json:"cpus,omitempty"`
	// Image, if set, grades in an OCI image instead of a checkout plus
	// Setup: a reference or a template such as
	// docker.io/swebench/sweb.eval.x86_64.{instance_id_docker}:latest
	// (see oci.ExpandTemplate and oci.ParseReference). The image holds
	// the repository at /testbed and SWE-bench's conda environment.
	Image string `yaml:"image" json:"image,omitempty"`
}

// Duration is a time.Duration written as "90s" or "30m" in spec files.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 90s or 30m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not a duration string such as \"30m\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 90s or 30m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

var (
	repoRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	pluginRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
)

// LoadEnvSpecs reads the spec files at paths and merges them, in order,
// into one: a later file's environments follow an earlier one's, and Find
// takes the first that serves a repository and version. With no path it
// is the embedded SWE-bench specs (envs.SWEbench). extra are spec
// contents that follow the files (`agora up` adds its demo's this way).
// Every file is validated as ParseEnvFile does; errors are EINVALID and
// name the file and field.
func LoadEnvSpecs(paths []string, extra ...[]byte) (*EnvFile, error) {
	type source struct {
		name string
		data []byte
	}
	var srcs []source
	if len(paths) == 0 {
		srcs = append(srcs, source{"embedded swebench.yaml", envs.SWEbench})
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "env specs: %v", err)
		}
		srcs = append(srcs, source{p, data})
	}
	for i, data := range extra {
		srcs = append(srcs, source{fmt.Sprintf("extra env %d", i), data})
	}
	merged := &EnvFile{Version: 1}
	for _, src := range srcs {
		f, err := ParseEnvFile(src.name, src.data)
		if err != nil {
			return nil, err
		}
		merged.Environments = append(merged.Environments, f.Environments...)
	}
	return merged, nil
}

// ParseEnvFile parses spec file contents; name is used in messages.
func ParseEnvFile(name string, data []byte) (*EnvFile, error) {
	var f EnvFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, agora.Errorf(agora.EINVALID, "env specs %s: %v", name, err)
	}
	if f.Version != 1 {
		return nil, agora.Errorf(agora.EINVALID, "env specs %s: version: want 1, got %d", name, f.Version)
	}
	if len(f.Environments) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "env specs %s: environments: none defined", name)
	}
	for i, e := range f.Environments {
		if err := e.Validate(); err != nil {
			return nil, agora.Errorf(agora.EINVALID, "env specs %s: environments[%d]: %s", name, i, agora.ErrorMessage(err))
		}
	}
	return &f, nil
}

// Validate checks a spec and fills its defaults.
func (e *Env) Validate() error {
	switch {
	case e == nil:
		return agora.Errorf(agora.EINVALID, "empty environment")
	case !repoRe.MatchString(e.Repo):
		return agora.Errorf(agora.EINVALID, "repo: %q is not owner/name", e.Repo)
	case len(e.Versions) == 0:
		return agora.Errorf(agora.EINVALID, "versions: none listed (use \"*\" for all)")
	case strings.TrimSpace(e.TestCmd) == "" && e.Image == "":
		// An image's instances bring their test command in eval_script.
		return agora.Errorf(agora.EINVALID, "test_cmd: missing")
	case e.Interpreter != "" && !path.IsAbs(e.Interpreter):
		return agora.Errorf(agora.EINVALID, "interpreter: %q is not an absolute path", e.Interpreter)
	case e.TestFiles != "" && e.TestFiles != "append" && e.TestFiles != "none":
		return agora.Errorf(agora.EINVALID, "test_files: %q is not append or none", e.TestFiles)
	case e.Runner != "" && e.Runner != "pytest" && e.Runner != "other":
		return agora.Errorf(agora.EINVALID, "runner: %q is not pytest or other", e.Runner)
	case e.MemoryMB < 0 || e.Pids < 0 || e.CPUs < 0:
		return agora.Errorf(agora.EINVALID, "memory_mb, pids, cpus: must not be negative")
	}
	for _, p := range e.Path {
		if !path.IsAbs(p) || strings.ContainsAny(p, ":\n") {
			return agora.Errorf(agora.EINVALID, "path: %q is not an absolute directory", p)
		}
	}
	for _, p := range e.Plugins {
		if !pluginRe.MatchString(p) {
			return agora.Errorf(agora.EINVALID, "plugins: %q is not a Python module name", p)
		}
	}
	for k := range e.Env {
		if !envKeyRe.MatchString(k) {
			return agora.Errorf(agora.EINVALID, "env: %q is not a variable name", k)
		}
	}
	if e.Image != "" {
		ref, err := oci.ExpandTemplate(e.Image, "owner__repo-1", "example.com/image:tag")
		if err == nil {
			_, err = oci.ParseReference(ref)
		}
		if err != nil {
			return agora.Errorf(agora.EINVALID, "image: %v", err)
		}
	}
	if e.Parser != "" {
		if _, err := logparse.LookupEvents(e.Parser); err != nil {
			return agora.Errorf(agora.EINVALID, "parser: %v", err)
		}
	}
	if e.Name == "" {
		e.Name = e.Repo + "@" + strings.Join(e.Versions, ",")
	}
	return nil
}

// Find returns the spec serving repo at version. An exact version match wins
// over "*".
func (f *EnvFile) Find(repo, version string) (*Env, error) {
	var wild *Env
	for _, e := range f.Environments {
		if e.Repo != repo {
			continue
		}
		for _, v := range e.Versions {
			if v == version {
				return e, nil
			}
			if v == "*" && wild == nil {
				wild = e
			}
		}
	}
	if wild != nil {
		return wild, nil
	}
	return nil, agora.Errorf(agora.ENOTFOUND, "no environment for %s version %q", repo, version)
}

// limits returns the run limits the spec asks for.
func (e *Env) limits(timeout Duration) agora.Limits {
	return agora.Limits{
		Memory:  e.MemoryMB << 20,
		Pids:    e.Pids,
		CPUs:    e.CPUs,
		Timeout: time.Duration(timeout),
	}
}

// layerKey is the content hash that names the environment layer built for
// one checkout: everything that can change what Setup writes is in it.
func (e *Env) layerKey(repo, commit, runtime string) string {
	h := sha256.New()
	json.NewEncoder(h).Encode(struct {
		Format                int
		Repo, Commit, Runtime string
		Interpreter           string
		Path, Setup           []string
		Env                   map[string]string
	}{2, repo, commit, runtime, e.Interpreter, e.Path, e.Setup, e.Env})
	return hex.EncodeToString(h.Sum(nil))[:32]
}
