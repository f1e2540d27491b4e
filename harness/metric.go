package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
}

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
	if err := task.Metric.Validate(); err != nil {
		return fail("%s", agora.ErrorMessage(err))
	}
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		return fail("patch: %v", err)
	}
	if err := patch.Check(p, patch.Rules{MaxBytes: task.MaxPatchBytes, Allowed: task.Allowed, FnmatchCompat: true}); err != nil {
		return fail("patch refused: %s", agora.ErrorMessage(err))
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
	run := func(name string, extra map[string]string) (*agora.RunResult, error) {
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
			Env: baseEnv(&e), Dir: repoDir, Mounts: workspaceMounts(ws, inputs), Limits: lim,
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
			return fail("patch does not apply to %.12s", task.BaseCommit)
		case r.ExitCode != 0:
			return fail("%s failed with exit %d", step, r.ExitCode)
		}
	}
	r, err := run("bench", task.Env)
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
