package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/keylock"
)

// Checkouts provides read-only checkouts at pinned commits (repocache.Cache).
type Checkouts interface {
	// Checkout returns a directory holding "repo" (the work tree at commit)
	// and an empty "env".
	Checkout(ctx context.Context, repo, commit string) (string, error)
}

// Evaluator runs evaluations. Fields are set before first use.
type Evaluator struct {
	Sandbox   agora.Sandbox
	Checkouts Checkouts
	// CacheDir keeps environment layers, keyed by content hash.
	CacheDir string
	// RuntimeKind is part of every layer's key: a layer built under one
	// runtime is not reused under another.
	RuntimeKind string
	// WorkspaceBytes caps what one evaluation may write (default 2 GiB).
	WorkspaceBytes int64
	// OutputBytes caps the log kept per command (default 4 MiB).
	OutputBytes int
	// NoGuard turns the runner guard off (guard.go); only for measuring
	// what it costs (bench/guard.sh). The configuration rules still apply.
	NoGuard bool
	Logger  *slog.Logger
	// Images, when set, serves image-mode evaluations (image.go): those
	// whose environment names an image, or all when ImageTemplate is set.
	Images Images
	// ImageTemplate, if set, is the image every instance is graded in
	// ({instance_id}, {instance_id_docker}, {image}; oci.ExpandTemplate).
	ImageTemplate string

	locks keylock.Locks
}

func (ev *Evaluator) logger() *slog.Logger {
	if ev.Logger == nil {
		return slog.Default().With("component", "harness")
	}
	return ev.Logger
}

// Sandbox paths. NOTE: the setup script and the layer layout depend on them.
const (
	repoDir   = "/repo"
	envDir    = "/env"
	inputsDir = "/agora"
)

// baseEnv is the environment of every command; nothing leaks in from the
// host.
func baseEnv(e *Env) []string {
	path := append([]string{envDir + "/bin"}, e.Path...)
	path = append(path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	env := []string{
		"PATH=" + strings.Join(path, ":"),
		"HOME=/tmp", "USER=agora", "LOGNAME=agora", "LANG=C.UTF-8", "TMPDIR=/tmp",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=agora", "GIT_AUTHOR_EMAIL=agora@localhost",
		"GIT_COMMITTER_NAME=agora", "GIT_COMMITTER_EMAIL=agora@localhost",
	}
	for k, v := range e.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// workspaceMounts binds a workspace's repo and env into a run.
func workspaceMounts(ws agora.Workspace, inputs string) []agora.Mount {
	m := []agora.Mount{
		{Source: filepath.Join(ws.Root(), "repo"), Target: repoDir},
		{Source: filepath.Join(ws.Root(), "env"), Target: envDir},
	}
	if inputs != "" {
		m = append(m, agora.Mount{Source: inputs, Target: inputsDir, ReadOnly: true})
	}
	return m
}

// envLayer returns the environment layer for a checkout, running the spec's
// setup in a sandbox the first time. The layer is the upper directory of that
// run, so it holds only what setup wrote, and is renamed into place whole.
func (ev *Evaluator) envLayer(ctx context.Context, e *Env, repo, commit, checkout string) (string, error) {
	key := e.layerKey(repo, commit, ev.RuntimeKind)
	final := filepath.Join(ev.CacheDir, "layers", key)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	unlock, err := ev.locks.Lock(final)
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "environment %s: %v", e.Name, err)
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), key+".tmp-")
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "environment %s: %v", e.Name, err)
	}
	defer os.RemoveAll(tmp)
	upper := filepath.Join(tmp, "upper")
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{checkout}, Upper: upper})
	if err != nil {
		return "", err
	}
	start := time.Now()
	lim := e.limits(e.SetupTimeout)
	lim.Output = ev.OutputBytes
	res, err := ev.Sandbox.Run(ctx, &agora.RunSpec{
		Name:   "setup",
		Args:   []string{"/bin/bash", "-c", setupScript(e)},
		Env:    baseEnv(e),
		Dir:    repoDir,
		Mounts: workspaceMounts(ws, ""),
		Limits: lim,
	})
	if cerr := ws.Close(); err == nil && cerr != nil {
		err = agora.Errorf(agora.EUNAVAILABLE, "environment %s: %v", e.Name, cerr)
	}
	if err != nil {
		return "", err
	}
	os.WriteFile(final+".setup.log", res.Output, 0o644)
	if res.TimedOut || res.ExitCode != 0 {
		return "", agora.Errorf(agora.EUNAVAILABLE, "environment %s: setup failed (exit %d%s) for %s@%.12s; log: %s.setup.log; last lines:\n%s",
			e.Name, res.ExitCode, map[bool]string{true: ", timed out"}[res.TimedOut], repo, commit, final, tailLines(res.Output, 8))
	}
	if err := os.Rename(upper, final); err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "environment %s: store layer: %v", e.Name, err)
	}
	ev.logger().Info("environment layer built", "env", e.Name, "repo", repo, "commit", commit, "layer", key, "ms", time.Since(start).Milliseconds())
	return final, nil
}

// setupScript makes the interpreter wrappers and runs the setup commands,
// stopping at the first failure.
func setupScript(e *Env) string {
	var b strings.Builder
	b.WriteString("set -euxo pipefail\nmkdir -p " + envDir + "/bin\n")
	if e.Interpreter != "" {
		// A wrapper, not a symlink: a venv's python finds its pyvenv.cfg
		// from the path it was started by.
		for _, name := range []string{"python", "python3"} {
			fmt.Fprintf(&b, "printf '#!/bin/sh\\nexec %%s \"$@\"\\n' %s > %s/bin/%s\nchmod 755 %s/bin/%s\n",
				shellQuote(e.Interpreter), envDir, name, envDir, name)
		}
	}
	b.WriteString("cd " + repoDir + "\n")
	for _, c := range e.Setup {
		b.WriteString(c + "\n")
	}
	return b.String()
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tailLines returns the last n lines of out.
func tailLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeInputs writes files into a fresh directory the sandbox user can read;
// it is mounted read-only, so nothing in the sandbox can change them.
func writeInputs(files map[string][]byte) (string, error) {
	dir, err := os.MkdirTemp("", "agora-inputs-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}
