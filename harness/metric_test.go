package harness_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/patch"
	"golang.org/x/sys/unix"
)

// metricRepo builds <root>/agora+speed/repo: a benchmark that writes
// result.json and prints "score=N", where N comes from solver.py.
func metricRepo(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "work")
	os.MkdirAll(dir, 0o755)
	fixture.MustGit(t, dir, "init", "-q", "--initial-branch=main")
	os.WriteFile(filepath.Join(dir, "solver.py"), []byte("SCORE = 10\n"), 0o644)
	// produce.py and score.py split the same benchmark: the patched code
	// writes out.json, the scorer measures it with the validator-only
	// FACTOR (1 when unset).
	os.WriteFile(filepath.Join(dir, "produce.py"), []byte(`import json, os, solver
json.dump({"score": solver.SCORE}, open(os.path.join(os.environ["AGORA_OUTPUT_DIR"], "out.json"), "w"))
print("produce sees FACTOR=" + os.environ.get("FACTOR", "unset"))
`), 0o644)
	os.WriteFile(filepath.Join(dir, "score.py"), []byte(scorePy), 0o644)
	os.WriteFile(filepath.Join(dir, "bench.py"), []byte(`import json, solver
json.dump({"metric_name": "score", "metric_value": solver.SCORE, "metrics": {"size": 3}}, open("result.json", "w"))
print(f"score={solver.SCORE}")
`), 0o644)
	fixture.MustGit(t, dir, "add", ".")
	fixture.MustGit(t, dir, "commit", "-q", "-m", "base")
	fixture.MustGit(t, root, "clone", "-q", "--mirror", dir, filepath.Join(root, "agora+speed", "repo"))
	return strings.TrimSpace(fixture.MustGit(t, dir, "rev-parse", "HEAD"))
}

const scorePy = `import json, os
d = json.load(open(os.path.join(os.environ["AGORA_OUTPUT_DIR"], "out.json")))
factor = os.environ.get("FACTOR", "1")
print("score sees FACTOR=" + factor)
json.dump({"metric_name": "score", "metric_value": d["score"] * int(factor), "metrics": {"size": 3}}, open("result.json", "w"))
`

const improve = `diff --git a/solver.py b/solver.py
--- a/solver.py
+++ b/solver.py
@@ -1 +1 @@
-SCORE = 10
+SCORE = 42
`

func TestEvaluateMetric(t *testing.T) {
	root := t.TempDir()
	base := metricRepo(t, root)
	ev := MustEvaluator(t, root)
	task := func() *harness.MetricTask {
		return &harness.MetricTask{
			Repo: "agora/speed", BaseCommit: base,
			MetricContract: agora.MetricContract{
				SetupCommand:     "python3 -c 'import solver'",
				BenchmarkCommand: "python3 bench.py",
				MetricName:       "score", MetricDirection: agora.Maximize, ResultPath: "result.json",
				RankingMode: agora.RankingPareto, SecondaryMetricName: "size", SecondaryMetricDirection: agora.Minimize},
			Allowed:    []string{"solver.py"},
			TimeBudget: time.Minute,
		}
	}
	ctx := context.Background()
	t.Run("Accepted", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(), improve)
		o := res.Observation
		if o.Status != agora.ResultAccepted || o.Metrics["score"] != 42 || o.Metrics["size"] != 3 {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("BaselineWithEmptyPatch", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(), "")
		if res.Observation.Metrics["score"] != 10 {
			t.Fatalf("%+v\n%s", res.Observation, res.Log)
		}
	})
	t.Run("RejectedOutsideAllowedPaths", func(t *testing.T) {
		hack := strings.ReplaceAll(improve, "solver.py", "bench.py")
		res := ev.EvaluateMetric(ctx, task(), hack)
		if res.Observation.Status != agora.ResultRejected || !strings.Contains(res.Observation.Reason, "bench.py") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("ErrResultSymlinkToHost", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = "rm -f result.json; ln -s /etc/hostname result.json; echo score=1"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != agora.ResultError || !strings.Contains(res.Observation.Reason, "result.json") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("RejectedByBenchmark", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = "echo validator_rejection=too_big; exit 1"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != agora.ResultRejected {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("ErrTimeBudget", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = "sleep 30"
		tk.TimeBudget = 2 * time.Second
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != agora.ResultError || !strings.Contains(res.Observation.Reason, "budget") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("FallbackToOutput", func(t *testing.T) {
		tk := task()
		tk.ResultPath, tk.RankingMode, tk.SecondaryMetricName, tk.SecondaryMetricDirection = "", "", "", ""
		tk.BenchmarkCommand = "echo score=1; echo Score: 7"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Metrics["score"] != 7 {
			t.Fatalf("%+v", res.Observation)
		}
	})
}

func TestEvaluateMetricArtifact(t *testing.T) {
	root := t.TempDir()
	base := metricRepo(t, root)
	ev := MustEvaluator(t, root)
	ctx := context.Background()

	// The artifact's score is the sum of its bytes, computed inside the
	// sandbox from the file the environment names.
	data := make([]byte, 1<<20)
	var sum int
	for i := range data {
		data[i] = byte(i * 31 >> 3)
		sum += int(data[i])
	}
	const uri = "https://example.com/model.bin"
	write := func(t *testing.T, dir string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, "model.bin")
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	task := func(path string) *harness.MetricTask {
		return &harness.MetricTask{
			Repo: "agora/speed", BaseCommit: base,
			MetricContract: agora.MetricContract{
				// Setup sees neither the file nor the variables.
				SetupCommand: `test -z "${AGORA_ARTIFACT_PATH:-}${AUTORESEARCH_SUBMISSION_ARTIFACT_PATH:-}${AUTORESEARCH_SUBMISSION_ARTIFACT_URI:-}" && test ! -e /agora/artifact`,
				BenchmarkCommand: `python3 -c '
import os
e = os.environ
p = e["AUTORESEARCH_SUBMISSION_ARTIFACT_PATH"]
assert p == e["AGORA_ARTIFACT_PATH"] == "/agora/artifact", p
assert e["AUTORESEARCH_SUBMISSION_ARTIFACT_URI"] == "` + uri + `"
assert "TASK_VAR" not in e  # validator-only, never for patched code
d = open(p, "rb").read()
assert len(d) == int(e["AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES"]) == os.path.getsize(p)
print("score=%d" % sum(d))
'`,
				MetricName: "score", MetricDirection: agora.Maximize},
			TimeBudget:   time.Minute,
			Env:          map[string]string{"TASK_VAR": "kept"},
			ArtifactPath: path, ArtifactURI: uri, ArtifactBytes: int64(len(data)),
		}
	}
	// readOnly is a benchmark that tries to change the artifact in every
	// way and scores the attempts that failed.
	const readOnly = `p="$AGORA_ARTIFACT_PATH"; n=0
echo x >> "$p" || n=$((n+1))
: > "$p" || n=$((n+1))
chmod 666 "$p" || n=$((n+1))
touch "$p" || n=$((n+1))
mv "$p" "$p.moved" || n=$((n+1))
rm -f "$p" || n=$((n+1))
ln -s /tmp/x /agora/other || n=$((n+1))
echo score=$n`
	const readOnlyAttempts = 7

	// Same filesystem as the inputs directory: hard-linked. /dev/shm is
	// another filesystem: bind-mounted over a placeholder.
	dirs := map[string]string{"Linked": t.TempDir()}
	if shm, err := os.MkdirTemp("/dev/shm", "agora-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		var a, b unix.Stat_t
		if unix.Stat(shm, &a) == nil && unix.Stat(os.TempDir(), &b) == nil && a.Dev != b.Dev {
			dirs["BindMounted"] = shm
		}
	}
	for _, name := range []string{"Linked", "BindMounted"} {
		t.Run(name, func(t *testing.T) {
			dir, ok := dirs[name]
			if !ok {
				t.Skip("no second filesystem (/dev/shm) to bind-mount from")
			}
			t.Run("BenchmarkReadsIt", func(t *testing.T) {
				path := write(t, dir, 0o644)
				res := ev.EvaluateMetric(ctx, task(path), "")
				o := res.Observation
				if o.Status != agora.ResultAccepted || o.Metrics["score"] != float64(sum) {
					t.Fatalf("%+v, want score %d\n%s", o, sum, res.Log)
				}
			})
			t.Run("ReadOnly", func(t *testing.T) {
				// Writable by all on the host: only the read-only
				// mount protects it.
				path := write(t, dir, 0o666)
				tk := task(path)
				tk.BenchmarkCommand = readOnly
				res := ev.EvaluateMetric(ctx, tk, "")
				if o := res.Observation; o.Metrics["score"] != readOnlyAttempts {
					t.Fatalf("%+v, want all %d attempts to fail\n%s", o, readOnlyAttempts, res.Log)
				}
				got, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("the host file changed (err=%v)", err)
				}
				if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o666 {
					t.Fatalf("mode=%v, want 0666", fi.Mode().Perm())
				}
			})
		})
	}

	// With a score command, the scorer sees the artifact too (data to
	// measure) and the validator-only environment.
	t.Run("ScoreReadsIt", func(t *testing.T) {
		tk := task(write(t, t.TempDir(), 0o644))
		tk.ScoreCommand = strings.Replace(tk.BenchmarkCommand, `assert "TASK_VAR" not in e  # validator-only, never for patched code`, `assert e["TASK_VAR"] == "kept"`, 1)
		tk.BenchmarkCommand = `python3 -c 'import os; assert "TASK_VAR" not in os.environ; open(os.environ["AGORA_OUTPUT_DIR"] + "/ok", "w")'`
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Status != agora.ResultAccepted || o.Metrics["score"] != float64(sum) {
			t.Fatalf("%+v, want score %d\n%s", o, sum, res.Log)
		}
	})
	t.Run("ErrNotReadable", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(write(t, t.TempDir(), 0o600)), "")
		if o := res.Observation; o.Status != agora.ResultError || !strings.Contains(o.Reason, "not readable by the sandbox user") {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("ErrSizeMismatch", func(t *testing.T) {
		tk := task(write(t, t.TempDir(), 0o644))
		tk.ArtifactBytes++
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Status != agora.ResultError || !strings.Contains(o.Reason, "declared") {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("ErrNotFetched", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(""), "")
		if o := res.Observation; o.Status != agora.ResultError || !strings.Contains(o.Reason, "was not fetched") {
			t.Fatalf("%+v", o)
		}
	})
}

// TestEvaluateMetricScored: the produce step (the patched tree) writes
// outputs, the score step (the base tree, the owner's command) measures
// them, and only the score step's result counts.
func TestEvaluateMetricScored(t *testing.T) {
	root := t.TempDir()
	base := metricRepo(t, root)
	ev := MustEvaluator(t, root)
	ctx := context.Background()
	const factor = "31337"
	task := func() *harness.MetricTask {
		return &harness.MetricTask{
			Repo: "agora/speed", BaseCommit: base,
			MetricContract: agora.MetricContract{BenchmarkCommand: "python3 produce.py", ScoreCommand: "python3 score.py",
				MetricName: "score", MetricDirection: agora.Maximize, ResultPath: "result.json"},
			Allowed:    []string{"*.py"},
			Env:        map[string]string{"FACTOR": factor},
			TimeBudget: time.Minute,
		}
	}
	t.Run("Accepted", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(), improve)
		if o := res.Observation; o.Status != agora.ResultAccepted || o.Metrics["score"] != 42*31337 || res.SelfReported {
			t.Fatalf("%+v self_reported=%v\n%s", o, res.SelfReported, res.Log)
		}
		log := string(res.Log)
		if !strings.Contains(log, "produce sees FACTOR=unset") || !strings.Contains(log, "score sees FACTOR=[redacted]") || strings.Contains(log, factor) {
			t.Fatalf("the produce step saw the validator-only value, or the log shows it:\n%s", log)
		}
	})
	t.Run("ScorerIsTheBaseTree", func(t *testing.T) {
		// Even a patch allowed to change the scorer does not run it.
		hack := improve + patch.Replace("score.py", scorePy, `import json
json.dump({"metric_name": "score", "metric_value": 1e9}, open("result.json", "w"))
`)
		res := ev.EvaluateMetric(ctx, task(), hack)
		if o := res.Observation; o.Status != agora.ResultAccepted || o.Metrics["score"] != 42*31337 {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("ProduceResultIgnored", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = `python3 produce.py; echo '{"metric_name": "score", "metric_value": 1e9}' > result.json; echo score=1e9`
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Status != agora.ResultAccepted || o.Metrics["score"] != 10*31337 {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("OutputsReadOnlyToScorer", func(t *testing.T) {
		tk := task()
		tk.ScoreCommand = `touch "$AGORA_OUTPUT_DIR/x" 2>/dev/null && echo score=1 || echo score=2`
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Metrics["score"] != 2 {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("RejectedByProduce", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = "echo validator_rejection=too_slow; exit 3"
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Status != agora.ResultRejected || !strings.HasPrefix(o.Reason, "produce: ") {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("ErrScoreFails", func(t *testing.T) {
		tk := task()
		tk.BenchmarkCommand = "true" // no out.json
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Status != agora.ResultError || !strings.HasPrefix(o.Reason, "score: ") {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("SelfReportedWithholdsEnv", func(t *testing.T) {
		tk := task()
		tk.ScoreCommand, tk.BenchmarkCommand = "", `echo "score=${FACTOR:-7}"`
		res := ev.EvaluateMetric(ctx, tk, "")
		if o := res.Observation; o.Metrics["score"] != 7 || !res.SelfReported || !strings.Contains(string(res.Log), "withheld") {
			t.Fatalf("%+v self_reported=%v\n%s", o, res.SelfReported, res.Log)
		}
	})
}
