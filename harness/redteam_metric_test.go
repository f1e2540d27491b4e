package harness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
)

// The red-team suite for metric tasks. Each test is an attack a miner can
// mount with nothing but a patch to the file the task allows (model.py of
// the demo fit task), replayed the way a validator replays it: the owner's
// task as JSON, the frozen replay spec, validator.HarnessReplayer on real
// runc sandboxes, and the root package's ranking and reward rules. The
// owner's task is the demo's: the patched code produces, a grader-owned
// score command scores.

// redSeed is the task's validator-only held-out seed. It is long and odd
// so that finding it anywhere in a log means it leaked.
const redSeed = "73519286404417"

// selfBench is a BitSota single-command benchmark for the fit repository:
// it imports the patched model, measures it and writes the result itself.
const selfBench = `python3 -c "
import json, model
xs = [i / 10 - 10 for i in range(201)]
loss = sum((model.predict(x) - (3 * x + 1)) ** 2 for x in xs) / len(xs)
json.dump({'metric_name': 'loss', 'metric_value': loss}, open('result.json', 'w'))
print('loss=%f' % loss)"`

// redTask is how an owner posts the demo fit task, as JSON. selfReported
// leaves out the score command and uses selfBench: BitSota's single
// benchmark that writes its own result.
func redTask(t *testing.T, repo, commit string, selfReported, pay bool) *agora.Task {
	t.Helper()
	body := map[string]any{
		"id": "fit-redteam", "slug": "fit-redteam", "title": "fit: lower the loss", "kind": agora.TaskMetric,
		"repository": repo, "base_ref": commit, "time_budget_seconds": 120, "allowed_patch_paths": []string{"model.py"},
		"benchmark_command": "python3 bench.py", "score_command": "python3 score.py",
		"result_path": "result.json", "metric_name": "loss", "metric_direction": agora.Minimize,
		"validator_benchmark_env": map[string]string{"HELDOUT_SEED": redSeed}, "competition": "red",
	}
	if selfReported {
		delete(body, "score_command")
		body["benchmark_command"] = selfBench
	}
	if pay {
		body["pay_self_reported"] = true
	}
	b, _ := json.Marshal(body)
	var task agora.Task
	if err := json.Unmarshal(b, &task); err != nil {
		t.Fatal(err)
	}
	task.SetDefaults()
	if err := task.Validate(); err != nil {
		t.Fatalf("the owner's task is refused: %v", err)
	}
	return &task
}

// redModel is a patch replacing model.py with body.
func redModel(t *testing.T, repo, body string) string {
	t.Helper()
	old, err := os.ReadFile(filepath.Join(repo, "model.py"))
	if err != nil {
		t.Fatal(err)
	}
	return patch.Replace("model.py", string(old), body)
}

// honestModel is off by one everywhere: its true loss is exactly 1.
const honestModel = "def predict(x):\n    return 3 * x\n"

// atexitModel predicts 0 (a true loss near 300) and registers an exit
// handler that writes a perfect result wherever a result could be read
// from, and prints one too.
const atexitModel = `import atexit, json, os


def _perfect():
    fake = {"metric_name": "loss", "metric_value": 0.0, "loss": 0.0}
    for d in [".", "/repo", os.environ.get("AGORA_OUTPUT_DIR", ".")]:
        try:
            with open(os.path.join(d, "result.json"), "w") as f:
                json.dump(fake, f)
        except OSError:
            pass
    print("loss=0.0", flush=True)


atexit.register(_perfect)


def predict(x):
    return 0.0
`

// daemonMarker names the daemon's process on the host.
const daemonMarker = "redteam-daemon-5c1e"

// daemonModel predicts 0 and starts a detached daemon, in its own session,
// that keeps writing perfect results into the repository and the output
// directory for as long as it lives. So that the attack does not depend on
// timing, the benchmark's process does not exit before the daemon has
// written once more after it (the handshake through /tmp).
const daemonModel = `import atexit, os, subprocess, time

LOOP = r"""
MARK=` + daemonMarker + `
while :; do
  go=; [ -e /tmp/red-go ] && go=1
  for d in /repo "${AGORA_OUTPUT_DIR:-/repo}"; do
    printf '{"metric_name": "loss", "metric_value": 0.0}' > "$d/result.json" 2>/dev/null
  done
  [ -n "$go" ] && touch /tmp/red-done
  sleep 0.02
done
"""
subprocess.Popen(["/bin/sh", "-c", LOOP], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _handshake():
    open("/tmp/red-go", "w").close()
    for _ in range(500):
        if os.path.exists("/tmp/red-done"):
            print("daemon wrote after the benchmark", flush=True)
            return
        time.sleep(0.02)


atexit.register(_handshake)


def predict(x):
    return 0.0
`

// leakModel prints every place the held-out seed could be read from.
const leakModel = `import glob, os, sys

print("ENV", dict(os.environ), flush=True)
for p in ["/proc/self/environ", "/proc/1/environ"] + glob.glob("/proc/*/environ") + glob.glob("/agora/*"):
    try:
        print("READ", p, open(p, "rb").read()[:4096], flush=True)
    except Exception as e:
        print("NOREAD", p, e, flush=True)
print("SEED", os.environ.get("HELDOUT_SEED"), file=sys.stderr, flush=True)


def predict(x):
    return 3 * x + 1
`

// watchSandbox is the real sandbox, watched: before every run it looks
// for a live process of the patched code's daemon on the host.
type watchSandbox struct {
	agora.Sandbox
	mu        sync.Mutex
	survivors []string // run names that started while the daemon lived
}

func (w *watchSandbox) Run(ctx context.Context, spec *agora.RunSpec) (*agora.RunResult, error) {
	if daemonAlive() {
		w.mu.Lock()
		w.survivors = append(w.survivors, spec.Name)
		w.mu.Unlock()
	}
	return w.Sandbox.Run(ctx, spec)
}

// daemonAlive reports whether any host process carries daemonMarker.
func daemonAlive() bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), daemonMarker) {
			return true
		}
	}
	return false
}

// redReplayer is a validator's replay engine over real runc sandboxes.
func redReplayer(t *testing.T) (*validator.HarnessReplayer, *watchSandbox) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("red-team metric tests need root for sandboxes")
	}
	state := filepath.Join("/run/agora-test", strings.ReplaceAll(t.Name(), "/", "_"))
	sb, err := sandbox.New(sandbox.Config{StateDir: state})
	if err != nil {
		t.Skipf("no sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close(); os.RemoveAll(state) })
	w := &watchSandbox{Sandbox: sb}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cache := t.TempDir()
	co := &validator.URLCheckouts{Dir: filepath.Join(cache, "repos"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Logger: quiet}
	ev := &harness.Evaluator{Sandbox: w, Checkouts: co, CacheDir: cache, RuntimeKind: sb.Kind(), Logger: quiet, WorkspaceBytes: 256 << 20}
	return &validator.HarnessReplayer{Evaluator: ev, Checkouts: co}, w
}

// redSubmit replays patch on task as miner and returns the submission
// with the verdict a quorum of one would give it.
func redSubmit(t *testing.T, h *validator.HarnessReplayer, task *agora.Task, miner, patch string, at time.Time) (*agora.Submission, *agora.Result, []byte) {
	t.Helper()
	sub := &agora.Submission{ID: agora.NewID(at), TaskID: task.ID, Miner: miner, Patch: patch, CreatedAt: at}
	res, log := h.Replay(context.Background(), agora.NewReplaySpec(task, sub))
	sub.Status = agora.SubmissionRejected
	if res.Status == agora.ResultAccepted {
		sub.Status = agora.SubmissionAccepted
		sub.Verdict = &agora.Verdict{Status: agora.SubmissionAccepted, Metrics: res.ObservedMetrics, Accepted: 1, DecidedAt: at}
	}
	return sub, res, log
}

// payouts closes one epoch over task's crownings and returns what each
// hotkey earned.
func payouts(t *testing.T, task *agora.Task, subs []*agora.Submission) map[string]uint64 {
	t.Helper()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap, err := agora.ComputeSnapshot(agora.EpochInput{Epoch: 1, From: from, To: from.Add(24 * time.Hour),
		Policies:  []agora.RewardPolicy{{Competition: task.Competition, Mode: agora.RewardWinnerTakesAll, Budget: 1000}},
		Crownings: map[string][]agora.Crowning{task.Competition: agora.Crownings(task, subs)}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, p := range snap.Payouts {
		out[p.Hotkey] = p.Amount
	}
	return out
}

func TestRedTeamMetricScoring(t *testing.T) {
	h, watch := redReplayer(t)
	repo, commit, _, err := demo.InstallMetric(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	task := redTask(t, repo, commit, false, false)
	t0 := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	honest, res, log := redSubmit(t, h, task, "honest", redModel(t, repo, honestModel), t0)
	if res.Status != agora.ResultAccepted || honest.Verdict.Metrics["loss"] != 1 {
		t.Fatalf("honest model: %+v, want accepted with loss 1\n%s", res, log)
	}

	// The exit handler rewrites the result after the benchmark measured
	// the model: the score must still be the model's real loss, and the
	// honest miner keeps first place.
	t.Run("AtexitOverwriteGetsRealScore", func(t *testing.T) {
		attack, res, log := redSubmit(t, h, task, "attacker", redModel(t, repo, atexitModel), t0.Add(time.Minute))
		if !strings.Contains(string(log), "loss=0.0") {
			t.Fatalf("the exit handler did not run:\n%s", log)
		}
		if res.Status != agora.ResultAccepted || res.ObservedMetrics["loss"] < 100 {
			t.Fatalf("atexit attack: status %s metrics %v (%s), want accepted with its real loss (~300)\n%s", res.Status, res.ObservedMetrics, res.Reason, log)
		}
		board := agora.RankTask(task, []*agora.Submission{honest, attack})
		if board.Best == nil || board.Best.Miner != "honest" || board.Standings[0].Miner != "honest" {
			t.Fatalf("atexit attack ranks first: %+v", board.Standings[0])
		}
	})

	// A daemon forked by the patched code outlives the benchmark's
	// process and keeps writing perfect results: it must be gone before
	// scoring starts, and nothing it wrote may count.
	t.Run("ForkedDaemonDoesNotReachScoring", func(t *testing.T) {
		watch.mu.Lock()
		watch.survivors = nil
		watch.mu.Unlock()
		_, res, log := redSubmit(t, h, task, "attacker", redModel(t, repo, daemonModel), t0.Add(2*time.Minute))
		if !strings.Contains(string(log), "daemon wrote after the benchmark") {
			t.Fatalf("the daemon did not run:\n%s", log)
		}
		if res.Status != agora.ResultAccepted || res.ObservedMetrics["loss"] < 100 {
			t.Fatalf("daemon attack: status %s metrics %v (%s), want accepted with its real loss (~300)\n%s", res.Status, res.ObservedMetrics, res.Reason, log)
		}
		watch.mu.Lock()
		defer watch.mu.Unlock()
		if len(watch.survivors) > 0 || daemonAlive() {
			t.Fatalf("the patched code's daemon was alive when these runs started: %v (alive now: %v)", watch.survivors, daemonAlive())
		}
	})

	// The held-out seed is the score step's alone: patched code that
	// prints its environment and reads every environ it can find shows
	// no seed in anything the result carries.
	t.Run("HeldOutSeedNeverInLog", func(t *testing.T) {
		_, res, log := redSubmit(t, h, task, "attacker", redModel(t, repo, leakModel), t0.Add(3*time.Minute))
		if !strings.Contains(string(log), "ENV {") {
			t.Fatalf("the leak attempt did not run:\n%s", log)
		}
		for what, s := range map[string]string{"log": string(log), "reason": res.Reason, "notes": res.Notes, "log_excerpt": res.LogExcerpt} {
			if strings.Contains(s, redSeed) {
				t.Errorf("the held-out seed %s appears in the result's %s", redSeed, what)
			}
		}
		if res.Status != agora.ResultAccepted || res.ObservedMetrics["loss"] != 0 {
			t.Fatalf("a perfect model that prints things: %+v, want accepted with loss 0\n%s", res, log)
		}
	})
}

// TestRedTeamSelfReportedNotPaid: on a task whose patched code writes its
// own result (no score command), the atexit attacker wins the replay; the
// task's standings may show it, but nobody is crowned or paid unless the
// owner opted in.
func TestRedTeamSelfReportedNotPaid(t *testing.T) {
	h, _ := redReplayer(t)
	repo, commit, _, err := demo.InstallMetric(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	for _, pay := range []bool{false, true} {
		t.Run(fmt.Sprintf("pay_self_reported=%v", pay), func(t *testing.T) {
			task := redTask(t, repo, commit, true, pay)
			honest, _, _ := redSubmit(t, h, task, "honest", redModel(t, repo, honestModel), t0)
			attack, res, log := redSubmit(t, h, task, "attacker", redModel(t, repo, atexitModel), t0.Add(time.Minute))
			if res.Status != agora.ResultAccepted {
				t.Fatalf("self-reported replay: %+v\n%s", res, log)
			}
			subs := []*agora.Submission{honest, attack}
			board := agora.RankTask(task, subs)
			paid := payouts(t, task, subs)
			crowned := agora.Crownings(task, subs)
			if !pay {
				if board.Best != nil || len(crowned) > 0 || len(paid) > 0 {
					t.Fatalf("self-reported task crowned or paid without opt-in: best %+v crownings %+v payouts %v", board.Best, crowned, paid)
				}
				return
			}
			total := uint64(0)
			for _, amt := range paid {
				total += amt
			}
			if board.Best == nil || len(crowned) == 0 || total != 1000 {
				t.Fatalf("opted-in self-reported task: best %+v crownings %+v payouts %v", board.Best, crowned, paid)
			}
		})
	}
}
