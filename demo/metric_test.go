package demo_test

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
)

// TestMetricPatchesApply checks every demo patch applies with git to the
// demo repository, and the base commit is stable across installs.
func TestMetricPatchesApply(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo, commit, patches, err := demo.InstallMetric(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, commit2, _, err := demo.InstallMetric(ctx, t.TempDir())
	if err != nil || commit2 != commit {
		t.Fatalf("base commit not reproducible: %s vs %s (%v)", commit, commit2, err)
	}
	for _, name := range demo.MetricPatchNames {
		cmd := exec.Command("git", "-C", repo, "apply", "--check", "-")
		cmd.Stdin = strings.NewReader(patches[name])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s does not apply: %v %s\n%s", name, err, out, patches[name])
		}
	}
}

// TestInstallMetricUpgrade: a repository left by an older demo (a
// benchmark that scored itself) gets the current files as a new commit,
// and its old commit stays, so tasks stored with it still replay.
func TestInstallMetricUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo, _, _, err := demo.InstallMetric(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("rm", "-q", "score.py")
	git("commit", "-q", "-m", "an older demo")
	old := git("rev-parse", "HEAD")
	_, commit, _, err := demo.InstallMetric(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if commit == old {
		t.Fatal("a stale repository was not brought up to date")
	}
	if got := git("rev-parse", commit+"^"); got != old {
		t.Fatalf("parent of the new commit is %s, want the old %s", got, old)
	}
	if _, err := os.Stat(filepath.Join(repo, "score.py")); err != nil {
		t.Fatal(err)
	}
}

// TestFitReplay replays the demo miners' patches on the fit task as a
// validator does, produce and score apart: the outcomes agora up shows.
func TestFitReplay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need root")
	}
	ctx := context.Background()
	repo, commit, patches, err := demo.InstallMetric(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join("/run/agora-test", t.Name())
	sb, err := sandbox.New(sandbox.Config{StateDir: state})
	if err != nil {
		t.Skipf("no sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close(); os.RemoveAll(state) })
	cache := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	co := &validator.URLCheckouts{Dir: filepath.Join(cache, "repos"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Logger: quiet}
	h := &validator.HarnessReplayer{Checkouts: co,
		Evaluator: &harness.Evaluator{Sandbox: sb, Checkouts: co, CacheDir: cache, RuntimeKind: sb.Kind(), Logger: quiet}}
	task := &agora.Task{ID: "fit", Kind: agora.TaskMetric, Repository: repo, BaseRef: commit, MetricContract: demo.FitContract(),
		AllowedPatchPaths: demo.FitAllowed, TimeBudgetSeconds: 120, MaxPatchBytes: agora.DefaultMaxPatchBytes,
		ValidatorEnv: map[string]string{"HELDOUT_SEED": "20261122"}}
	for _, tc := range []struct {
		patch, status, reason string
		loss                  func(float64) bool
	}{
		{"fit-good", agora.ResultAccepted, "", func(x float64) bool { return x == 0 }},
		{"fit-wrong", agora.ResultAccepted, "", func(x float64) bool { return x > 100 }},
		{"fit-hostile", agora.ResultRejected, "patch refused", nil},
		{"", agora.ResultRejected, "validator_rejection=", nil}, // the base model: fine, but no patch at all
	} {
		t.Run(cmp.Or(tc.patch, "NoPredictions"), func(t *testing.T) {
			diff := patches[tc.patch]
			if tc.patch == "" {
				// Break the produce step's contract: no predictions.
				diff = strings.Replace(patches["fit-good"], "+    return 3 * x + 1", "+    raise SystemExit(0)", 1)
			}
			res, log := h.Replay(ctx, agora.NewReplaySpec(task, &agora.Submission{Patch: diff}))
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) || (tc.loss != nil && !tc.loss(res.ObservedMetrics["loss"])) {
				t.Fatalf("status %s reason %q metrics %v, want %s %q\n%s", res.Status, res.Reason, res.ObservedMetrics, tc.status, tc.reason, log)
			}
			if strings.Contains(string(log), "20261122") {
				t.Fatalf("the held-out seed is in the log:\n%s", log)
			}
		})
	}
}
