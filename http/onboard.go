package http

import (
	"fmt"
	"strings"

	"github.com/agoranet/agora"
)

// Onboarding renders a task's onboarding markdown from its record: what to
// fix or improve, the replay contract, and how to submit. It takes the
// public view of the task, so hidden tests never appear.
func Onboarding(t *agora.Task, baseURL string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", t.Title)
	p("Task `%s` (id `%s`), kind **%s**, mode **%s**, state **%s**.\n\n", t.Slug, t.ID, t.Kind, t.CompetitionMode, t.State)
	if t.Brief != "" {
		p("%s\n\n", t.Brief)
	}
	p("## Repository\n\n- repository: %s\n- base commit: `%s` (pinned: your patch applies to exactly this tree)\n", t.Repository, t.BaseRef)
	if t.Environment != "" {
		p("- environment: `%s`\n", t.Environment)
	}
	p("- time budget: %d s per replay\n- patch size: at most %d bytes\n", t.TimeBudgetSeconds, t.MaxPatchBytes)
	if len(t.AllowedPatchPaths) > 0 {
		p("- files you may change: %s\n", "`"+strings.Join(t.AllowedPatchPaths, "`, `")+"`")
	}
	p("\n")
	switch t.Kind {
	case agora.TaskSWE:
		swe := t.SWE
		if swe == nil { // a stored swe task has one; render without rather than fail
			swe = &agora.SWESpec{}
		}
		p("## Problem\n\n%s\n\n", strings.TrimSpace(swe.ProblemStatement))
		p("## How it is judged\n\nValidators apply your patch in a sandbox, then the task's tests")
		if t.Visibility == agora.VisibilityHidden {
			p(" (hidden: you will not see them)")
		}
		p(", SWE-bench style: every FAIL_TO_PASS test must pass and every PASS_TO_PASS test must keep passing. Edits to test files are undone before grading.\n\n")
		if len(swe.FailToPass) > 0 {
			p("Tests that must go from failing to passing:\n\n")
			for _, x := range swe.FailToPass {
				p("- `%s`\n", x)
			}
			p("\n")
		}
		p("The first resolving submission holds the best result.\n\n")
	case agora.TaskMetric:
		p("## How it is judged\n\nValidators apply your patch in a sandbox and run:\n\n")
		if t.SetupCommand != "" {
			p("- setup: `%s`\n", t.SetupCommand)
		}
		p("- benchmark: `%s`\n", t.BenchmarkCommand)
		if t.ResultPath != "" {
			p("- result file: `%s`\n", t.ResultPath)
		}
		p("- metric: `%s`, %s\n", t.MetricName, t.MetricDirection)
		if t.RankingMode == agora.RankingPareto {
			p("- secondary metric (Pareto): `%s`, %s\n", t.SecondaryMetricName, t.SecondaryMetricDirection)
		}
		p("\nA result replaces the best one only if it improves the metric by more than %.4g (relative) plus %.4g (absolute); ties go to the earlier submission.\n\n",
			t.ImprovementThreshold, t.NoiseMargin)
	}
	p("## Submit\n\n```sh\nagora miner claim %s --coordinator %s\nagora miner check %s --patch fix.diff --coordinator %s   # the validators' verdict, locally\nagora miner submit %s --repo . --coordinator %s\n```\n",
		t.Slug, baseURL, t.Slug, baseURL, t.Slug, baseURL)
	p("\nOr `POST %s/api/v1/submissions` with an Epistula-signed JSON body `{\"task_id\": %q, \"patch\": \"...\"}`.\n", baseURL, t.ID)
	if t.Quorum > 1 {
		p("\nEach submission is replayed by %d distinct validators; the majority decides.\n", t.Quorum)
	}
	return b.String()
}
