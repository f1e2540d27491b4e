package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/metric"
	"github.com/agoranet/agora/patch"
	"golang.org/x/sys/unix"
)

// MetricTask is a BitSota-style task: apply a patch, produce, score, read a
// number.
//
// A replay has two steps in separate sandbox runs. Produce: on the patched
// tree, SetupCommand (no task environment) then BenchmarkCommand, which
// writes what it produces under OutputDir ($AGORA_OUTPUT_DIR). Score: on a
// fresh tree at the base commit, which the patch never touches,
// ScoreCommand runs with the produce outputs mounted read-only at
// OutputDir and with Env, the validator-only values; the metric is read
// from that run's result file or output. The produce runs are over (their
// containers and cgroups removed, agora.Sandbox.Run's contract) before
// scoring starts, so no process of the patched code can touch the score
// run or what it reads.
//
// Without ScoreCommand the task is BitSota's single command: the patched
// code's benchmark writes its own result (SelfReported). Env then reaches
// no run at all, since the only code that would see it is the miner's.
type MetricTask struct {
	Repo, BaseCommit string
	// MetricContract holds the commands, bash run in /repo (setup and
	// benchmark on the patched tree, score on the base tree; no score
	// command means the benchmark reports its own metric), and the metric:
	// its name, direction and where it is written (ResultPath: in the
	// score run's tree, or the produce run's when there is no score).
	agora.MetricContract
	// Allowed are the globs a patch may touch (Python fnmatch semantics,
	// as BitSota's validator); empty allows every path.
	Allowed []string
	// MaxPatchBytes caps the patch (default 256 KiB).
	MaxPatchBytes int
	// TimeBudget bounds all steps together (default 1h).
	TimeBudget time.Duration
	// Env is the validator-only environment (validator_benchmark_env): the
	// score step's alone. Values of MinRedactLen bytes or more are also
	// replaced by "[redacted]" in the log and the reason.
	Env map[string]string
	// Limits bound each run (memory, pids, CPUs).
	Limits agora.Limits

	// ArtifactPath, if set, is the host path of the submission's artifact,
	// already downloaded and verified (artifact.Fetcher). The benchmark
	// (and the score command, for which it is data to measure) sees it
	// read-only at /agora/artifact, named in its environment with
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

// OutputDir is where the produce step writes and the score step reads
// (read-only); both find it in EnvOutputDir. It is a directory of the
// produce run's workspace, so the workspace's write cap bounds it.
const (
	OutputDir    = inputsDir + "/out"
	EnvOutputDir = "AGORA_OUTPUT_DIR"
)

// MinRedactLen is the shortest validator-only value redacted from logs:
// shorter ones would blank out ordinary text and are no secret anyway.
const MinRedactLen = 4

// artifactTarget is where the benchmark finds the artifact.
const artifactTarget = inputsDir + "/artifact"

// MetricResult is the outcome of one metric replay.
type MetricResult struct {
	Observation metric.Observation
	// Log holds the output of every step, validator-only values redacted.
	Log []byte
	// ExitCode is the score command's, or the benchmark's when self-reported.
	ExitCode int
	Duration time.Duration
	// SelfReported is true when the metric came from the patched code's own
	// run (no score command).
	SelfReported bool
}

// EvaluateMetric replays patch on task. Like EvaluateSWE it never returns
// an error: a refused patch, a failed setup or a timeout is an Observation
// with status error (or rejected, by BitSota's rule).
func (ev *Evaluator) EvaluateMetric(ctx context.Context, task *MetricTask, diff string) *MetricResult {
	start := time.Now()
	scored := strings.TrimSpace(task.ScoreCommand) != ""
	res := &MetricResult{SelfReported: !scored}
	var log strings.Builder
	redact := redactor(task.Env)
	// Every way out goes through done, so nothing leaves unredacted.
	done := func() *MetricResult {
		res.Log = []byte(redact.Replace(log.String()))
		res.Observation.Reason = redact.Replace(res.Observation.Reason)
		res.Duration = time.Since(start)
		return res
	}
	fail := func(format string, args ...any) *MetricResult {
		res.Observation = metric.Observation{Status: agora.ResultError, Reason: fmt.Sprintf(format, args...)}
		return done()
	}
	// A patch that is malformed, refused or does not apply is the
	// submitter's fault: rejected, as BitSota's runner does, not an error.
	reject := func(format string, args ...any) *MetricResult {
		fail(format, args...)
		res.Observation.Status = agora.ResultRejected
		return res
	}
	if err := task.ValidateMetric(); err != nil {
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
	if err := patch.Check(p, patch.TaskRules(agora.TaskMetric, task.MaxPatchBytes, task.Allowed)); err != nil {
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
	prep, _ := prepareScript(repoDir, task.BaseCommit, p, &patch.Patch{}, "", false)
	inputs, err := writeInputs(map[string][]byte{
		"model.diff": []byte(diff),
		"prepare.sh": []byte(prep),
		"setup.sh":   []byte("set -euo pipefail\ncd " + repoDir + "\n" + task.SetupCommand + "\n"),
		"bench.sh":   []byte("set -uo pipefail\ncd " + repoDir + "\n" + task.BenchmarkCommand + "\n"),
	})
	if err != nil {
		return fail("inputs: %v", err)
	}
	defer os.RemoveAll(inputs)
	var outDir string
	if scored {
		if outDir, err = outputDir(ws, inputs); err != nil {
			return fail("output directory: %v", err)
		}
	}

	budget := task.budget()
	deadline := start.Add(budget)
	run := func(ws agora.Workspace, inputs, name string, extra map[string]string, mounts ...agora.Mount) (*agora.RunResult, error) {
		lim := task.Limits
		lim.Output = ev.OutputBytes
		// One budget for all steps: each gets only what is left.
		lim.Timeout = time.Until(deadline)
		if lim.Timeout <= 0 {
			return &agora.RunResult{TimedOut: true}, nil
		}
		r, err := ev.Sandbox.Run(ctx, &agora.RunSpec{
			Name: "metric-" + name, Args: []string{"/bin/bash", inputsDir + "/" + name + ".sh"},
			Env: baseEnv(&Env{Env: extra}), Dir: repoDir, Mounts: append(workspaceMounts(ws, inputs), mounts...), Limits: lim,
		})
		if r != nil {
			fmt.Fprintf(&log, ">>>>> %s (exit %d)\n", name, r.ExitCode)
			log.Write(r.Output)
		}
		return r, err
	}
	for _, step := range []string{"prepare", "setup"} {
		if step == "setup" && strings.TrimSpace(task.SetupCommand) == "" {
			continue
		}
		r, err := run(ws, inputs, step, nil)
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
	// The produce step: the patched code runs. It never gets the
	// validator-only environment, scored or not.
	benchEnv, mounts := map[string]string{}, []agora.Mount(nil)
	if art != nil {
		// The artifact joins the inputs only now, so setup never sees it.
		if mounts, err = art.addTo(inputs); err != nil {
			return fail("artifact: %v", err)
		}
		benchEnv = art.env(nil)
	}
	if scored {
		benchEnv[EnvOutputDir] = OutputDir
		mounts = append(mounts, agora.Mount{Source: outDir, Target: OutputDir})
	} else if len(task.Env) > 0 {
		fmt.Fprintf(&log, ">>>>> validator_benchmark_env (%d values) withheld: without a score command only the patched code would see it\n", len(task.Env))
	}
	r, err := run(ws, inputs, "bench", benchEnv, mounts...)
	if err != nil {
		return fail("benchmark: %s", agora.ErrorMessage(err))
	}
	if r.TimedOut {
		return fail("benchmark exceeded the replay time budget of %s", budget)
	}
	res.ExitCode = r.ExitCode
	if !scored {
		// Self-reported: the patched code's own result is all there is.
		var resultJSON []byte
		if task.ResultPath != "" {
			resultJSON, err = readResult(filepath.Join(ws.Root(), "repo"), task.ResultPath)
			if err != nil {
				return fail("result file %s: %v", task.ResultPath, err)
			}
		}
		res.Observation = metric.Observe(task.MetricContract, resultJSON, string(r.Output), r.ExitCode)
		return done()
	}
	if r.ExitCode != 0 {
		// A produce step that fails is judged by BitSota's rule on its own
		// output (error, or rejected when it printed a rejection); no
		// metric is read from anything it wrote.
		res.Observation = metric.Observe(task.MetricContract, nil, string(r.Output), r.ExitCode)
		res.Observation.Reason = "produce: " + res.Observation.Reason
		return done()
	}
	return ev.score(ctx, task, checkout, outDir, art, run, res, fail, done)
}

// budget is the time all steps share.
func (t *MetricTask) budget() time.Duration {
	if t.TimeBudget <= 0 {
		return time.Hour
	}
	return t.TimeBudget
}

// runFunc runs one step script from inputs in a workspace.
type runFunc func(ws agora.Workspace, inputs, name string, extra map[string]string, mounts ...agora.Mount) (*agora.RunResult, error)

// score is the score step: the owner's command on a fresh tree at the base
// commit, so nothing the patch or the produce step changed is in it, with
// the produce outputs read-only and the validator-only environment. The
// metric comes from this run alone.
func (ev *Evaluator) score(ctx context.Context, task *MetricTask, checkout, outDir string, art *taskArtifact, run runFunc,
	res *MetricResult, fail func(string, ...any) *MetricResult, done func() *MetricResult) *MetricResult {
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{checkout}, MaxBytes: ev.WorkspaceBytes})
	if err != nil {
		return fail("score: %s", agora.ErrorMessage(err))
	}
	defer ws.Close()
	inputs, err := writeInputs(map[string][]byte{
		"score.sh": []byte("set -uo pipefail\ncd " + repoDir + "\n" + task.ScoreCommand + "\n"),
	})
	if err != nil {
		return fail("score inputs: %v", err)
	}
	defer os.RemoveAll(inputs)
	// The mount point of the outputs inside the read-only inputs.
	if err := os.Mkdir(filepath.Join(inputs, filepath.Base(OutputDir)), 0o755); err != nil {
		return fail("score inputs: %v", err)
	}
	env := maps.Clone(task.Env)
	if env == nil {
		env = map[string]string{}
	}
	var mounts []agora.Mount
	if art != nil {
		if mounts, err = art.addTo(inputs); err != nil {
			return fail("artifact: %v", err)
		}
		env = art.env(env)
	}
	env[EnvOutputDir] = OutputDir
	mounts = append(mounts, agora.Mount{Source: outDir, Target: OutputDir, ReadOnly: true})
	r, err := run(ws, inputs, "score", env, mounts...)
	if err != nil {
		return fail("score: %s", agora.ErrorMessage(err))
	}
	if r.TimedOut {
		return fail("score exceeded the replay time budget of %s", task.budget())
	}
	res.ExitCode = r.ExitCode
	var resultJSON []byte
	if task.ResultPath != "" {
		// Read without following symlinks, as for a benchmark's file: the
		// scorer handled the miner's outputs, which may be links.
		resultJSON, err = readResult(filepath.Join(ws.Root(), "repo"), task.ResultPath)
		if err != nil {
			return fail("score result file %s: %v", task.ResultPath, err)
		}
	}
	res.Observation = metric.Observe(task.MetricContract, resultJSON, string(r.Output), r.ExitCode)
	if res.Observation.Status != agora.ResultAccepted {
		res.Observation.Reason = "score: " + res.Observation.Reason
	}
	return done()
}

// outputDir makes the produce step's output directory, <ws>/out, owned by
// the sandbox user (whoever owns the workspace's repo), and its mount point
// in inputs. Living in the workspace, it shares the workspace's write cap.
func outputDir(ws agora.Workspace, inputs string) (string, error) {
	fi, err := os.Stat(filepath.Join(ws.Root(), "repo"))
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("no owner for %s", fi.Name())
	}
	dir := filepath.Join(ws.Root(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(inputs, filepath.Base(OutputDir)), 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// redactor replaces validator-only values of MinRedactLen bytes or more
// with "[redacted]", longest first so that a value containing another is
// replaced whole.
func redactor(env map[string]string) *strings.Replacer {
	var vals []string
	for _, v := range env {
		if len(v) >= MinRedactLen {
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool {
		if len(vals[i]) != len(vals[j]) {
			return len(vals[i]) > len(vals[j])
		}
		return vals[i] < vals[j]
	})
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "[redacted]")
	}
	return strings.NewReplacer(pairs...)
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

// env returns base plus the artifact's variables, which win.
func (a *taskArtifact) env(base map[string]string) map[string]string {
	env := make(map[string]string, len(base)+4)
	maps.Copy(env, base)
	env[EnvArtifactPath] = artifactTarget
	env[EnvAgoraArtifactPath] = artifactTarget
	env[EnvArtifactURI] = a.uri
	env[EnvArtifactBytes] = strconv.FormatInt(a.size, 10)
	return env
}

// readResult reads a result file from the host side of a workspace without
// following any symlink: the tree was written by hostile code, or by a
// scorer over hostile outputs, which could point it at a host file. nil
// means no such file.
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
