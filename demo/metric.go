package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/patch"
)

// The metric demo: a model to improve, produced and scored apart. The
// patched code (bench.py over the miner's model.py) only writes predictions
// on a public grid; the task owner's score.py, run by the validator on the
// base tree, measures them on held-out grid points chosen by a seed the
// validator gives the score step alone. Lower loss is better.
var metricFiles = map[string]string{
	"README.md": "# fit\n\nImprove `model.py` so its predictions score a lower `loss`.\n\n" +
		"`bench.py` (the produce step) writes the model's predictions to `$AGORA_OUTPUT_DIR`;\n" +
		"`score.py` (the score step, the owner's) measures them on held-out points.\n",
	"model.py": `"""The model miners improve: predict y for x."""


def predict(x):
    return 0.0
`,
	"bench.py": `"""Produce step: predict every point of a public grid. Writes
$AGORA_OUTPUT_DIR/predictions.json; scoring is score.py's job."""
import json
import os

import model

GRID = [i / 100 - 10 for i in range(2001)]
with open(os.path.join(os.environ["AGORA_OUTPUT_DIR"], "predictions.json"), "w") as f:
    json.dump([float(model.predict(x)) for x in GRID], f)
print("predicted %d points" % len(GRID))
`,
	"score.py": `"""Score step (the task owner's): measure bench.py's predictions on
held-out grid points chosen by HELDOUT_SEED, which only this step sees.
The predictions are untrusted data: read as JSON, checked, never run."""
import json
import math
import os
import random
import stat
import sys

GRID = [i / 100 - 10 for i in range(2001)]


def reject(why):
    print("validator_rejection=" + why)
    sys.exit(1)


path = os.path.join(os.environ["AGORA_OUTPUT_DIR"], "predictions.json")
try:
    if not stat.S_ISREG(os.lstat(path).st_mode):
        reject("predictions_not_a_file")
    with open(path) as f:
        preds = json.load(f)
except (OSError, ValueError):
    reject("no_predictions")
ok = isinstance(preds, list) and len(preds) == len(GRID)
if not ok or not all(type(p) in (int, float) and math.isfinite(p) and abs(p) <= 1e6 for p in preds):
    reject("bad_predictions")
rng = random.Random(int(os.environ.get("HELDOUT_SEED", "7")))
points = rng.sample(range(len(GRID)), 200)
loss = sum((preds[i] - (3 * GRID[i] + 1)) ** 2 for i in points) / len(points)
with open("result.json", "w") as f:
    json.dump({"metric_name": "loss", "metric_value": loss}, f)
print("loss=%.6f" % loss)
`,
}

// FitContract is the demo fit task's metric contract: bench.py produces,
// score.py scores (agora.MetricContract). Give it validator_benchmark_env
// HELDOUT_SEED to keep the held-out points from miners.
func FitContract() agora.MetricContract {
	return agora.MetricContract{BenchmarkCommand: "python3 bench.py", ScoreCommand: "python3 score.py",
		ResultPath: "result.json", MetricName: "loss", MetricDirection: agora.Minimize}
}

// FitAllowed are the paths a fit patch may change.
var FitAllowed = []string{"model.py"}

// MetricPatchNames are the demo miners' metric patches: a correct
// improvement, a wrong one, and a hostile one that rewrites the scorer
// (outside the allowed paths; and the score step runs the base tree's).
var MetricPatchNames = []string{"fit-good", "fit-wrong", "fit-hostile"}

var metricEdits = map[string]map[string]string{
	"fit-good":    {"model.py": "\"\"\"The model miners improve: predict y for x.\"\"\"\n\n\ndef predict(x):\n    return 3 * x + 1\n"},
	"fit-wrong":   {"model.py": "\"\"\"The model miners improve: predict y for x.\"\"\"\n\n\ndef predict(x):\n    return -2 * x\n"},
	"fit-hostile": {"score.py": "print(\"loss=0.0\")\nopen(\"result.json\", \"w\").write('{\"metric_name\": \"loss\", \"metric_value\": 0}')\n"},
}

// InstallMetric builds the metric demo's repository at dir/fit (once) and
// returns its path, its base commit and the demo patches by name.
func InstallMetric(ctx context.Context, dir string) (repo, commit string, patches map[string]string, err error) {
	repo = filepath.Join(dir, "fit")
	git := func(args ...string) (string, error) {
		cmd := &gitexec.Cmd{Dir: repo, Args: args, Identity: demoIdentity}
		out, err := cmd.Run(ctx)
		if err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
		return strings.TrimSpace(out), nil
	}
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		os.RemoveAll(repo)
		if err := os.MkdirAll(repo, 0o755); err != nil {
			return "", "", nil, err
		}
		if _, err := git("init", "-q", "-b", "main"); err != nil {
			return "", "", nil, err
		}
	}
	// A repository from an older demo (one benchmark that scored itself)
	// gets the current files as a new commit on top, so tasks stored with
	// the old commit still replay.
	stale := false
	for name, body := range metricFiles {
		if b, err := os.ReadFile(filepath.Join(repo, name)); err != nil || string(b) != body {
			stale = true
			if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
				return "", "", nil, err
			}
		}
	}
	if stale {
		for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "fit: a model to improve, produced and scored apart"}} {
			if _, err := git(args...); err != nil {
				return "", "", nil, err
			}
		}
	}
	if commit, err = git("rev-parse", "HEAD"); err != nil {
		return "", "", nil, err
	}
	patches = map[string]string{}
	for name, edits := range metricEdits {
		var b strings.Builder
		for file, body := range edits {
			b.WriteString(patch.Replace(file, metricFiles[file], body))
		}
		patches[name] = b.String()
	}
	return repo, commit, patches, nil
}

// demoIdentity commits the fit repository: fixed names and dates, so the
// same files give the same commit.
var demoIdentity = gitexec.Identity{Name: "agora", Email: "demo@agora.invalid", Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
