package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The metric demo: a model to improve, scored by a benchmark on held-out
// points the validator supplies. Lower loss is better.
var metricFiles = map[string]string{
	"README.md": "# fit\n\nImprove `model.py` so `bench.py` reports a lower `loss`.\n",
	"model.py": `"""The model miners improve: predict y for x."""


def predict(x):
    return 0.0
`,
	"bench.py": `"""Scores model.predict on held-out points; writes result.json."""
import json
import os
import random

import model

rng = random.Random(int(os.environ.get("HELDOUT_SEED", "7")))
points = [rng.uniform(-10, 10) for _ in range(200)]
loss = sum((model.predict(x) - (3 * x + 1)) ** 2 for x in points) / len(points)
with open("result.json", "w") as f:
    json.dump({"metric_name": "loss", "metric_value": loss}, f)
print("loss=%.6f" % loss)
`,
}

// MetricPatchNames are the demo miners' metric patches: a correct
// improvement, a wrong one, and a hostile one that rewrites the benchmark
// (outside the allowed paths).
var MetricPatchNames = []string{"fit-good", "fit-wrong", "fit-hostile"}

var metricEdits = map[string]map[string]string{
	"fit-good":    {"model.py": "\"\"\"The model miners improve: predict y for x.\"\"\"\n\n\ndef predict(x):\n    return 3 * x + 1\n"},
	"fit-wrong":   {"model.py": "\"\"\"The model miners improve: predict y for x.\"\"\"\n\n\ndef predict(x):\n    return -2 * x\n"},
	"fit-hostile": {"bench.py": "print(\"loss=0.0\")\nopen(\"result.json\", \"w\").write('{\"metric_name\": \"loss\", \"metric_value\": 0}')\n"},
}

// InstallMetric builds the metric demo's repository at dir/fit (once) and
// returns its path, its base commit and the demo patches by name.
func InstallMetric(ctx context.Context, dir string) (repo, commit string, patches map[string]string, err error) {
	repo = filepath.Join(dir, "fit")
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
		// Fixed identity and dates: the same files give the same commit.
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=agora", "GIT_AUTHOR_EMAIL=demo@agora.invalid",
			"GIT_COMMITTER_NAME=agora", "GIT_COMMITTER_EMAIL=demo@agora.invalid",
			"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("demo: git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		os.RemoveAll(repo)
		if err := os.MkdirAll(repo, 0o755); err != nil {
			return "", "", nil, err
		}
		for name, body := range metricFiles {
			if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
				return "", "", nil, err
			}
		}
		for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "fit: a model to improve"}} {
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
			b.WriteString(unifiedReplace(file, metricFiles[file], body))
		}
		patches[name] = b.String()
	}
	return repo, commit, patches, nil
}

// unifiedReplace is a git diff replacing the whole of file's old content
// with new content.
func unifiedReplace(file, old, new string) string {
	lines := func(s string) []string { return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") }
	o, n := lines(old), lines(new)
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,%d +1,%d @@\n", file, file, file, file, len(o), len(n))
	for _, l := range o {
		b.WriteString("-" + strings.TrimSuffix(l, "\n") + "\n")
	}
	for _, l := range n {
		b.WriteString("+" + strings.TrimSuffix(l, "\n") + "\n")
	}
	return b.String()
}
