package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/metric"
	"github.com/agoranet/agora/patch"
	"golang.org/x/sys/unix"
)

// MetricTask is a BitSota-style task: apply a patch, run setup and a
// benchmark, read a number.
type MetricTask struct {
	Repo, BaseCommit string
	// Setup and Benchmark are bash commands run in /repo, setup first.
	Setup, Benchmark string
	// Metric names the number, its direction and where it is written.
	Metric metric.Spec
	// Allowed are the globs a patch may touch (Python fnmatch semantics,
	// as BitSota's validator); empty allows every path.
	Allowed []string
	// MaxPatchBytes caps the patch (default 256 KiB).
	MaxPatchBytes int
	// TimeBudget bounds setup and benchmark together (default 1h).
	TimeBudget time.Duration
	// Env is the benchmark's extra environment; setup does not get it.
	Env map[string]string
	// Limits bound each run (memory, pids, CPUs).
	Limits agora.Limits

	// ArtifactPath, if set, is the host path of the submission's artifact,
	// already downloaded and verified (artifact.Fetcher). The benchmark
	// sees it read-only at /agora/artifact, named in its environment with
	// ArtifactURI and ArtifactBytes (default: the file's size) as
	// AUTORESEARCH_SUBMISSION_ARTIFACT_{PATH,URI,BYTES}, BitSota's names,
	// and AGORA_ARTIFACT_PATH. Setup sees neither the file nor the
	// variables. The file must be readable by others (the sandbox user);
	// it is linked or bind-mounted, never copied.
	ArtifactPath  string
	ArtifactURI   string
	ArtifactBytes int64
}

// Artifact environment variables of the benchmark.
const (
	EnvArtifactPath      = "AUTORESEARCH_SUBMISSION_ARTIFACT_PATH"
	EnvArtifactURI       = "AUTORESEARCH_SUBMISSION_ARTIFACT_URI"
	EnvArtifactBytes     = "AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES"
	EnvAgoraArtifactPath = "AGORA_ARTIFACT_PATH"
)

// artifactTarget is where the benchmark finds the artifact.
const artifactTarget = inputsDir + "/artifact"

// MetricResult is the outcome of one metric replay.
type MetricResult struct {
	Observation metric.Observation
	// Log holds the setup and benchmark output.
	Log      []byte
	ExitCode int
	Duration time.Duration
}

// EvaluateMetric replays patch on task. Like EvaluateSWE it never returns
// an error: a refused patch, a failed setup or a timeout is an Observation
// with status error (or rejected, by BitSota's rule).
func (ev *Evaluator) EvaluateMetric(ctx context.Context, task *MetricTask, diff string) *MetricResult {
	start := time.Now()
	res := &MetricResult{}
	fail := func(format string, args ...any) *MetricResult {
		res.Observation = metric.Observation{Status: metric.StatusError, Reason: fmt.Sprintf(format, args...)}
		res.Duration = time.Since(start)
		return res
	}
	// A patch that is malformed, refused or does not apply is the
	// submitter's fault: rejected, as BitSota's runner does, not an error.
	reject := func(format string, args ...any) *MetricResult {
		fail(format, args...)
		res.Observation.Status = metric.StatusRejected
		return res
	}
	if err := task.Metric.Validate(); err != nil {
		return fail("%s", agora.ErrorMessage(err))
	}
	art, err := checkArtifact(task)
	if err != nil {
		return fail("artifact: %v", err)
	}
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		return reject("patch: %v", err)
	}
	if err := patch.Check(p, patch.Rules{MaxBytes: task.MaxPatchBytes, Allowed: task.Allowed, FnmatchCompat: true}); err != nil {
		return reject("patch refused: %s", agora.ErrorMessage(err))
	}
	checkout, err := ev.Checkouts.Checkout(ctx, task.Repo, task.BaseCommit)
	if err != nil {
		return fail("%s", agora.ErrorMessage(err))
	}
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{checkout}, MaxBytes: ev.WorkspaceBytes})
	if err != nil {
		return fail("%s", agora.ErrorMessage(err))
	}
	defer ws.Close()

	// The same apply chain as SWE-bench evaluations, with no test patch.
	prep, _ := prepareScript(task.BaseCommit, p, &patch.Patch{}, "", false)
	inputs, err := writeInputs(map[string][]byte{
		"model.diff": []byte(diff),
		"prepare.sh": []byte(prep),
		"setup.sh":   []byte("set -euo pipefail\ncd " + repoDir + "\n" + task.Setup + "\n"),
		"bench.sh":   []byte("set -uo pipefail\ncd " + repoDir + "\n" + task.Benchmark + "\n"),
	})
	if err != nil {
		return fail("inputs: %v", err)
	}
	defer os.RemoveAll(inputs)

	budget := task.TimeBudget
	if budget <= 0 {
		budget = time.Hour
	}
	deadline := start.Add(budget)
	env := &Env{Env: nil}
	var log strings.Builder
	run := func(name string, extra map[string]string, mounts ...agora.Mount) (*agora.RunResult, error) {
		lim := task.Limits
		lim.Output = ev.OutputBytes
		// One budget for all steps: each gets only what is left.
		lim.Timeout = time.Until(deadline)
		if lim.Timeout <= 0 {
			return &agora.RunResult{TimedOut: true}, nil
		}
		e := *env
		e.Env = extra
		r, err := ev.Sandbox.Run(ctx, &agora.RunSpec{
			Name: "metric-" + name, Args: []string{"/bin/bash", inputsDir + "/" + name + ".sh"},
			Env: baseEnv(&e), Dir: repoDir, Mounts: append(workspaceMounts(ws, inputs), mounts...), Limits: lim,
		})
		if r != nil {
			fmt.Fprintf(&log, ">>>>> %s (exit %d)\n", name, r.ExitCode)
			log.Write(r.Output)
		}
		return r, err
	}
	for _, step := range []string{"prepare", "setup"} {
		if step == "setup" && strings.TrimSpace(task.Setup) == "" {
			continue
		}
		r, err := run(step, nil)
		res.Log = []byte(log.String())
		switch {
		case err != nil:
			return fail("%s: %s", step, agora.ErrorMessage(err))
		case r.TimedOut:
			return fail("%s exceeded the replay time budget of %s", step, budget)
		case r.ExitCode == prepModelFailed && step == "prepare":
			return reject("patch does not apply to %.12s", task.BaseCommit)
		case r.ExitCode != 0:
			return fail("%s failed with exit %d", step, r.ExitCode)
		}
	}
	// The artifact joins the inputs only now, so setup never sees it.
	benchEnv, mounts := task.Env, []agora.Mount(nil)
	if art != nil {
		if mounts, err = art.addTo(inputs); err != nil {
			return fail("artifact: %v", err)
		}
		benchEnv = art.env(task.Env)
	}
	r, err := run("bench", benchEnv, mounts...)
	res.Log = []byte(log.String())
	if err != nil {
		return fail("benchmark: %s", agora.ErrorMessage(err))
	}
	if r.TimedOut {
		return fail("benchmark exceeded the replay time budget of %s", budget)
	}
	res.ExitCode = r.ExitCode
	var resultJSON []byte
	if task.Metric.ResultPath != "" {
		resultJSON, err = readResult(filepath.Join(ws.Root(), "repo"), task.Metric.ResultPath)
		if err != nil {
			return fail("result file %s: %v", task.Metric.ResultPath, err)
		}
	}
	res.Observation = metric.Observe(task.Metric, resultJSON, string(r.Output), r.ExitCode)
	res.Duration = time.Since(start)
	return res
}

// taskArtifact is a metric task's artifact, checked on the host.
type taskArtifact struct {
	path, uri string
	size      int64
}

// checkArtifact returns the task's artifact, or nil when it has none. The
// path is resolved, since a hard link to a symlink would be the symlink.
func checkArtifact(task *MetricTask) (*taskArtifact, error) {
	if task.ArtifactPath == "" {
		if task.ArtifactURI != "" || task.ArtifactBytes != 0 {
			return nil, fmt.Errorf("%s was not fetched: no ArtifactPath", task.ArtifactURI)
		}
		return nil, nil
	}
	path, err := filepath.EvalSymlinks(task.ArtifactPath)
	if err == nil {
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Mode().Perm()&0o004 == 0:
		return nil, fmt.Errorf("%s (mode %v) is not readable by the sandbox user", path, fi.Mode().Perm())
	case task.ArtifactBytes > 0 && fi.Size() != task.ArtifactBytes:
		return nil, fmt.Errorf("%s is %d bytes, declared %d", path, fi.Size(), task.ArtifactBytes)
	}
	return &taskArtifact{path: path, uri: task.ArtifactURI, size: fi.Size()}, nil
}

// addTo makes the artifact appear at /agora/artifact through the inputs
// directory. A hard link costs nothing and keeps the run's mounts plain
// directories (which pooled sandboxes need); from another filesystem the
// file is bind-mounted read-only over an empty placeholder instead. It is
// never copied: artifacts can be many GB.
func (a *taskArtifact) addTo(inputs string) ([]agora.Mount, error) {
	dst := filepath.Join(inputs, filepath.Base(artifactTarget))
	if err := os.Link(a.path, dst); err == nil {
		return nil, nil
	}
	if err := os.WriteFile(dst, nil, 0o444); err != nil {
		return nil, err
	}
	return []agora.Mount{{Source: a.path, Target: artifactTarget, ReadOnly: true}}, nil
}

// env returns the benchmark's environment: the task's, plus the artifact's
// variables, which win.
func (a *taskArtifact) env(task map[string]string) map[string]string {
	env := make(map[string]string, len(task)+4)
	maps.Copy(env, task)
	env[EnvArtifactPath] = artifactTarget
	env[EnvAgoraArtifactPath] = artifactTarget
	env[EnvArtifactURI] = a.uri
	env[EnvArtifactBytes] = strconv.FormatInt(a.size, 10)
	return env
}

// readResult reads the benchmark's result file from the host side of the
// workspace without following any symlink: the file was written by hostile
// code, which could point it at a host file. nil means no such file.
func readResult(root, rel string) ([]byte, error) {
	dirfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("refused (%v): it must be a regular file inside the repository, reached without symlinks", err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, metric.MaxResultBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > metric.MaxResultBytes {
		return nil, fmt.Errorf("larger than %d bytes", metric.MaxResultBytes)
	}
	return data, nil
}
