package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/oci"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/swebench"
)

// Images gives image-mode evaluations their root filesystems
// (oci.Store behind an adapter in cmd/agora).
type Images interface {
	// Image returns ref's layers, pulling it first if needed.
	Image(ctx context.Context, ref string) (*ImageRoot, error)
}

// ImageRoot is an image ready to be stacked as a workspace.
type ImageRoot struct {
	// Layers are read-only directories, topmost first.
	Layers []string
	// Env is the image's configured environment ("KEY=value").
	Env []string
	// WorkingDir is the image's working directory.
	WorkingDir string
}

// SWE-bench's image conventions: the repository at /testbed, the conda
// environment "testbed" activated by these lines.
const (
	testbedDir = "/testbed"
	condaLines = "source /opt/miniconda3/bin/activate\nconda activate testbed\n"
)

// imageRef is the image an instance is graded in: the evaluator's
// template (agora eval --image), else the environment's image field,
// expanded for the instance; "" for host mode.
func (ev *Evaluator) imageRef(inst *swebench.Instance, env *Env) (string, error) {
	tpl := ev.ImageTemplate
	if tpl == "" && env != nil {
		tpl = env.Image
	}
	if tpl == "" {
		return "", nil
	}
	if ev.Images == nil {
		return "", fmt.Errorf("image %s: this evaluator has no image store", tpl)
	}
	return oci.ExpandTemplate(tpl, inst.InstanceID, inst.Image)
}

// imageEnv is env as image mode runs it: the install and test commands of
// the instance's eval_script, else of the script SWE-bench's harness
// writes for its repository and version (swebench.ImageEvalScript), else
// env's own, in /testbed with the conda environment active, and the lines that activate the
// environment before the tests. Runner, plugins, parser, limits and
// variables stay env's.
func imageEnv(inst *swebench.Instance, env *Env, tests *patch.Patch) (*Env, string, error) {
	ie := &Env{Name: inst.Repo + " image", Repo: inst.Repo, Versions: []string{inst.Version}}
	if env != nil {
		c := *env
		ie = &c
	}
	script := inst.EvalScript
	if strings.TrimSpace(script) == "" {
		// SWE-bench's own script for the repository and version, when
		// its harness has facts for them: the image is SWE-bench's, so
		// its install and test commands are too.
		if _, err := swebench.LookupSpec(inst.Repo, inst.Version); err == nil {
			if script, err = swebench.ImageEvalScript(inst); err != nil {
				return nil, "", fmt.Errorf("eval script for %s %s: %v", inst.Repo, inst.Version, err)
			}
		}
	}
	if strings.TrimSpace(script) == "" {
		if env == nil || strings.TrimSpace(env.TestCmd) == "" {
			return nil, "", fmt.Errorf("image mode: no eval_script and no environment test command")
		}
		ie.TestCmd = testCommand(env, tests, inst.Repo)
		ie.TestFiles = "none"
		ie.Install = strings.TrimSpace(condaLines + "cd " + testbedDir + "\n" + env.Install)
		return ie, condaLines, nil
	}
	parts, err := splitEvalScript(script)
	if err != nil {
		return nil, "", fmt.Errorf("eval_script: %v", err)
	}
	ie.TestCmd, ie.TestFiles, ie.Install = parts.test, "none", parts.install
	return ie, parts.activate, nil
}

// evalParts are the pieces of a SWE-bench eval script that Agora's
// pipeline runs itself: activation, install and the test command. The
// rest (the informational git commands, the test-file resets and the
// test patch) Agora does in its own words (prepareScript).
type evalParts struct {
	activate string // the lines that activate the environment
	install  string // what runs after the model patch, before the resets
	test     string // between the start and end markers
}

var (
	startMarkerRe = regexp.MustCompile(`^\s*:\s*'>>>>> Start Test Output'\s*$`)
	endMarkerRe   = regexp.MustCompile(`^\s*:\s*'>>>>> End Test Output'\s*$`)
	heredocRe     = regexp.MustCompile(`<<-?\s*'?"?([A-Za-z0-9_]+)'?"?\s*$`)
	// Lines Agora's pipeline replaces: SWE-bench's record-only git
	// commands, the reset of the test files and the test patch.
	droppedRe  = regexp.MustCompile(`^\s*(git status|git show|git -c core\.fileMode=false diff\b|git checkout [0-9a-f]{7,40}\b|git apply\b|#!|set -[a-z]+)`)
	exitVarRe  = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*=\$\?\s*$`)
	activateRe = regexp.MustCompile(`^\s*(source\s+\S*/activate\b|\.\s+\S*/activate\b|conda activate\b)`)
)

// splitEvalScript takes an eval_script apart.
func splitEvalScript(script string) (evalParts, error) {
	var p evalParts
	lines := strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n")
	var install, test, activate []string
	state := 0 // 0: before the start marker, 1: test command, 2: after the end marker
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch state {
		case 0:
			if startMarkerRe.MatchString(l) {
				state = 1
				continue
			}
			if m := heredocRe.FindStringSubmatch(l); m != nil {
				// A heredoc (the test patch): skip through its end.
				for i++; i < len(lines) && strings.TrimSpace(lines[i]) != m[1]; i++ {
				}
				if i == len(lines) {
					return p, fmt.Errorf("heredoc %s is not closed", m[1])
				}
				continue
			}
			if strings.TrimSpace(l) == "" || droppedRe.MatchString(l) {
				continue
			}
			if activateRe.MatchString(l) && len(install) == len(activate) {
				activate = append(activate, l)
			}
			install = append(install, l)
		case 1:
			if endMarkerRe.MatchString(l) {
				state = 2
				continue
			}
			if exitVarRe.MatchString(l) {
				continue // v5's SWEBENCH_TEST_EXIT_CODE=$?: the run's own status is kept
			}
			test = append(test, l)
		}
	}
	if state == 0 {
		return p, fmt.Errorf("no %q marker", StartMarker)
	}
	if state == 1 {
		return p, fmt.Errorf("no %q marker", EndMarker)
	}
	p.test = strings.TrimSpace(strings.Join(test, "\n"))
	if p.test == "" {
		return p, fmt.Errorf("no test command between the markers")
	}
	if len(activate) > 0 {
		p.activate = strings.Join(activate, "\n") + "\n"
	}
	p.install = strings.Join(install, "\n")
	return p, nil
}

// sweSite is where an evaluation runs: its workspace, the repository's
// directory in the sandbox, the environment of its runs and their mounts.
type sweSite struct {
	ws       agora.Workspace
	dir      string   // the repository, in the sandbox
	baseRepo string   // the repository at the base commit, on the host
	env      []string // the environment of every run
	rootfs   string   // the runs' root ("" for the host's)
	mounts   func(inputs string) []agora.Mount
}

// hostSite is host mode: a checkout and its environment layer.
func (ev *Evaluator) hostSite(ctx context.Context, inst *swebench.Instance, env *Env, tm *Timings) (*sweSite, string, error) {
	t := time.Now()
	checkout, err := ev.Checkouts.Checkout(ctx, inst.Repo, inst.BaseCommit)
	tm.Checkout = time.Since(t)
	if err != nil {
		return nil, ErrKindRepository, err
	}
	t = time.Now()
	layer, err := ev.envLayer(ctx, env, inst.Repo, inst.BaseCommit, checkout)
	tm.Environment = time.Since(t)
	if err != nil {
		return nil, ErrKindEnvironment, err
	}
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{layer, checkout}, MaxBytes: ev.WorkspaceBytes})
	if err != nil {
		return nil, ErrKindSandbox, err
	}
	return &sweSite{
		ws: ws, dir: repoDir, baseRepo: filepath.Join(checkout, "repo"), env: baseEnv(env),
		mounts: func(inputs string) []agora.Mount { return workspaceMounts(ws, inputs) },
	}, "", nil
}

// imageSite is image mode: the image's layers under a private writable
// upper, used as the runs' root. The root itself is mounted read-only by
// the sandbox, so each top-level directory of the image is bound back
// writable, as a container's root is; Agora's user, limits, network and
// seccomp apply as to any run.
func (ev *Evaluator) imageSite(ctx context.Context, ref string, env *Env, tm *Timings) (*sweSite, string, error) {
	t := time.Now()
	img, err := ev.Images.Image(ctx, ref)
	tm.Checkout = time.Since(t)
	if err != nil {
		return nil, ErrKindEnvironment, agora.Errorf(agora.EUNAVAILABLE, "image %s: %v", ref, err)
	}
	t = time.Now()
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: img.Layers, MaxBytes: ev.WorkspaceBytes})
	tm.Environment = time.Since(t)
	if err != nil {
		return nil, ErrKindSandbox, err
	}
	root := ws.Root()
	if fi, err := os.Stat(filepath.Join(root, testbedDir)); err != nil || !fi.IsDir() {
		ws.Close()
		return nil, ErrKindEnvironment, agora.Errorf(agora.EINVALID, "image %s has no %s directory", ref, testbedDir)
	}
	// runc gives the sandbox's /tmp tmpfs the mode of the directory it
	// covers: an image without /tmp, or with a private one, would leave
	// the run no writable /tmp (pytest's tmp_path, pylint's cache). /tmp
	// is world-writable and sticky, as in any distribution; the change
	// lands in the workspace's private upper layer.
	if err := worldTmp(filepath.Join(root, "tmp")); err != nil {
		ws.Close()
		return nil, ErrKindSandbox, fmt.Errorf("image %s: /tmp: %w", ref, err)
	}
	var binds []agora.Mount
	entries, err := os.ReadDir(root)
	if err != nil {
		ws.Close()
		return nil, ErrKindSandbox, err
	}
	for _, e := range entries {
		// Symlinks (bin -> usr/bin) resolve inside the root; the
		// sandbox mounts its own /proc, /dev, /sys, /tmp, and /run is
		// the guard's.
		switch e.Name() {
		case "proc", "dev", "sys", "tmp", "run", strings.TrimPrefix(inputsDir, "/"):
			continue
		}
		if e.IsDir() {
			binds = append(binds, agora.Mount{Source: filepath.Join(root, e.Name()), Target: "/" + e.Name()})
		}
	}
	return &sweSite{
		ws: ws, dir: testbedDir, baseRepo: filepath.Join(root, testbedDir), env: imageRunEnv(img, env), rootfs: root,
		mounts: func(inputs string) []agora.Mount {
			m := append([]agora.Mount{}, binds...)
			if inputs != "" {
				m = append(m, agora.Mount{Source: inputs, Target: inputsDir, ReadOnly: true})
			}
			return m
		},
	}, "", nil
}

// imageRunEnv is the environment of an image-mode run: Agora's fixed
// variables, the image's own (its PATH first of all), then the spec's.
func imageRunEnv(img *ImageRoot, e *Env) []string {
	vars := map[string]string{}
	var order []string
	set := func(kv string) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return
		}
		if _, seen := vars[k]; !seen {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range baseEnv(&Env{}) {
		set(kv)
	}
	// Grading runs have no network. SWE-bench's eval scripts reinstall the
	// repository (pip install -e .), which needs an index for its build
	// requirements and so fails here whatever pip does; without these pip
	// first sleeps through five retries and a version check, about ten
	// seconds per instance. The image may still set its own.
	set("PIP_RETRIES=0")
	set("PIP_DISABLE_PIP_VERSION_CHECK=1")
	for _, kv := range img.Env {
		set(kv)
	}
	if e != nil {
		for k, v := range e.Env {
			set(k + "=" + v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// OCIImages serves images from an oci.Store, pulling those it lacks.
type OCIImages struct {
	Store *oci.Store
	// LayerPathBytes is how long a lower directory's path is in the
	// workspace's overlay options (its idmapped mount under the sandbox
	// state directory); default 128. Images whose layers would not fit a
	// mount option page get their bottom layers flattened.
	LayerPathBytes int
}

// Image implements Images.
func (o OCIImages) Image(ctx context.Context, ref string) (*ImageRoot, error) {
	img, err := o.Store.Ensure(ctx, ref)
	if err != nil {
		return nil, err
	}
	cost := o.LayerPathBytes
	if cost <= 0 {
		cost = 128
	}
	// The upper and work directories share the page.
	layers, err := o.Store.Compose(img, 0, cost, 2*cost+64)
	if err != nil {
		return nil, err
	}
	return &ImageRoot{Layers: layers, Env: img.Env, WorkingDir: img.WorkingDir}, nil
}

// worldTmp makes path a directory with mode 1777, replacing whatever else
// is there.
func worldTmp(path string) error {
	if fi, err := os.Lstat(path); err == nil && !fi.IsDir() {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, 0o777); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chmod(path, os.ModeSticky|0o777)
}
