package testingutil

import "github.com/agoranet/agora"

// Commit is a pinned base commit for fixture tasks.
const Commit = "0123456789abcdef0123456789abcdef01234567"

// SWETask returns a valid swe task with the given slug.
func SWETask(slug string) *agora.Task {
	return &agora.Task{
		Slug: slug, Title: "Fix " + slug, Kind: agora.TaskSWE, Repository: "https://example.org/calc.git",
		BaseRef: Commit, Environment: "calc",
		SWE: &agora.SWESpec{
			InstanceID: slug, ProblemStatement: "add() returns the wrong sum",
			TestPatch: "diff --git a/test_calc.py b/test_calc.py\n", GoldPatch: "diff --git a/calc.py b/calc.py\n",
			FailToPass: []string{"test_calc.py::test_add"}, PassToPass: []string{"test_calc.py::test_sub"},
		},
	}
}

// MetricTask returns a valid metric task with the given slug and direction.
func MetricTask(slug, direction string) *agora.Task {
	return &agora.Task{
		Slug: slug, Title: "Speed up " + slug, Kind: agora.TaskMetric, Repository: "https://example.org/bench.git",
		BaseRef: Commit, MetricContract: agora.MetricContract{BenchmarkCommand: "python3 bench.py", ScoreCommand: "python3 score.py", ResultPath: "result.json",
			MetricName: "loss", MetricDirection: direction}, AllowedPatchPaths: []string{"model/*.py"},
		ValidatorEnv: map[string]string{"HELDOUT": "secret"},
	}
}
