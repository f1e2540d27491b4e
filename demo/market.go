package demo

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

// Competition is the demo tasks' competition.
const Competition = "demo"

// Miner is a demo miner: a development key derived from a well-known URI
// (it holds nothing of value, which is the point of a demo), a name, and
// what it submits: a prediction (Models) for the swe task and a patch
// (MetricPatchNames) for the metric task.
type Miner struct {
	URI, Name   string
	SWE, Metric string
}

// Miners are the demo's three miners: a correct, a wrong and a hostile one.
var Miners = []Miner{
	{"//DemoMinerA", "miner A", "gold", "fit-good"},
	{"//DemoMinerB", "miner B", "demo-wrong", "fit-wrong"},
	{"//DemoMinerC", "miner C", "demo-conftest-hack", "fit-hostile"},
}

// Market is the demo marketplace: a swe task, a metric task, and the
// demo miners' submissions to them.
type Market struct {
	SWE, Fit    *agora.Task
	Submissions []Submission
}

// Submission is one demo miner's patch for one of the market's tasks.
type Submission struct {
	Miner Miner
	// Task is Market.SWE or Market.Fit.
	Task *agora.Task
	// What names the patch: the prediction's model or the metric patch.
	What  string
	Patch string
}

// InstallMarket installs the demo repositories into dir (Install and
// InstallMetric) and returns the market over them.
func InstallMarket(ctx context.Context, dir string) (*Market, error) {
	in, err := installCalc(ctx, dir)
	if err != nil {
		return nil, err
	}
	fitRepo, fitCommit, fitPatches, err := InstallMetric(ctx, dir)
	if err != nil {
		return nil, err
	}
	m := &Market{
		SWE: &agora.Task{
			Slug: "calc-mean", Title: "calc: mean() truncates", Kind: agora.TaskSWE, Competition: Competition,
			Repository: filepath.Join(dir, "mirrors", "agora+calc", "repo"), BaseRef: in.BaseCommit, Environment: in.Repo,
			TimeBudgetSeconds: 300, Source: "demo",
			SWE: in.SWESpec(),
		},
		Fit: &agora.Task{
			Slug: "fit-loss", Title: "fit: lower the model's loss", Kind: agora.TaskMetric, Competition: Competition,
			// The patched code produces predictions; the owner's scorer,
			// alone with the held-out seed, measures them.
			Repository: fitRepo, BaseRef: fitCommit, MetricContract: FitContract(), AllowedPatchPaths: FitAllowed, ImprovementThreshold: 0.01,
			TimeBudgetSeconds: 120, ValidatorEnv: map[string]string{"HELDOUT_SEED": "20261122"}, Source: "demo",
		},
	}
	for _, mi := range Miners {
		preds, _, err := swebench.ParsePredictions(mi.SWE, Predictions(mi.SWE))
		if err != nil || len(preds) == 0 || preds[0].ModelPatch == nil {
			return nil, fmt.Errorf("demo predictions %s: %v", mi.SWE, err)
		}
		m.Submissions = append(m.Submissions,
			Submission{Miner: mi, Task: m.SWE, What: mi.SWE, Patch: *preds[0].ModelPatch},
			Submission{Miner: mi, Task: m.Fit, What: mi.Metric, Patch: fitPatches[mi.Metric]})
	}
	return m, nil
}
