package harness_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/metric"
)

// metricRepo builds <root>/agora+speed/repo: a benchmark that writes
// result.json and prints "score=N", where N comes from solver.py.
func metricRepo(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "work")
	os.MkdirAll(dir, 0o755)
	fixture.MustGit(t, dir, "init", "-q", "--initial-branch=main")
	os.WriteFile(filepath.Join(dir, "solver.py"), []byte("SCORE = 10\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bench.py"), []byte(`import json, solver
json.dump({"metric_name": "score", "metric_value": solver.SCORE, "metrics": {"size": 3}}, open("result.json", "w"))
print(f"score={solver.SCORE}")
`), 0o644)
	fixture.MustGit(t, dir, "add", ".")
	fixture.MustGit(t, dir, "commit", "-q", "-m", "base")
	fixture.MustGit(t, root, "clone", "-q", "--mirror", dir, filepath.Join(root, "agora+speed", "repo"))
	return strings.TrimSpace(fixture.MustGit(t, dir, "rev-parse", "HEAD"))
}

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
			Setup:     "python3 -c 'import solver'",
			Benchmark: "python3 bench.py",
			Metric: metric.Spec{MetricName: "score", Direction: metric.Maximize, ResultPath: "result.json",
				RankingMode: metric.Pareto, SecondaryName: "size", SecondaryDirection: metric.Minimize},
			Allowed:    []string{"solver.py"},
			TimeBudget: time.Minute,
		}
	}
	ctx := context.Background()
	t.Run("Accepted", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(), improve)
		o := res.Observation
		if o.Status != metric.StatusAccepted || o.Metrics["score"] != 42 || o.Metrics["size"] != 3 {
			t.Fatalf("%+v\n%s", o, res.Log)
		}
	})
	t.Run("BaselineWithEmptyPatch", func(t *testing.T) {
		res := ev.EvaluateMetric(ctx, task(), "")
		if res.Observation.Metrics["score"] != 10 {
			t.Fatalf("%+v\n%s", res.Observation, res.Log)
		}
	})
	t.Run("ErrOutsideAllowedPaths", func(t *testing.T) {
		hack := strings.ReplaceAll(improve, "solver.py", "bench.py")
		res := ev.EvaluateMetric(ctx, task(), hack)
		if res.Observation.Status != metric.StatusError || !strings.Contains(res.Observation.Reason, "bench.py") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("ErrResultSymlinkToHost", func(t *testing.T) {
		tk := task()
		tk.Benchmark = "rm -f result.json; ln -s /etc/hostname result.json; echo score=1"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != metric.StatusError || !strings.Contains(res.Observation.Reason, "result.json") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("RejectedByBenchmark", func(t *testing.T) {
		tk := task()
		tk.Benchmark = "echo validator_rejection=too_big; exit 1"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != metric.StatusRejected {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("ErrTimeBudget", func(t *testing.T) {
		tk := task()
		tk.Benchmark = "sleep 30"
		tk.TimeBudget = 2 * time.Second
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Status != metric.StatusError || !strings.Contains(res.Observation.Reason, "budget") {
			t.Fatalf("%+v", res.Observation)
		}
	})
	t.Run("FallbackToOutput", func(t *testing.T) {
		tk := task()
		tk.Metric = metric.Spec{MetricName: "score", Direction: metric.Maximize}
		tk.Benchmark = "echo score=1; echo Score: 7"
		res := ev.EvaluateMetric(ctx, tk, improve)
		if res.Observation.Metrics["score"] != 7 {
			t.Fatalf("%+v", res.Observation)
		}
	})
}
