package agora_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
)

func validMetric() *agora.Task {
	t := &agora.Task{Slug: "bench-1", Title: "Bench", Kind: agora.TaskMetric, Repository: "https://example.org/r.git",
		BaseRef: strings.Repeat("a", 40), MetricContract: agora.MetricContract{BenchmarkCommand: "make bench", MetricName: "loss", MetricDirection: agora.Minimize},
		AllowedPatchPaths: []string{"src/*.py"}}
	t.SetDefaults()
	return t
}

func TestTaskValidate(t *testing.T) {
	for _, tc := range []struct {
		name, field, code string
		edit              func(*agora.Task)
	}{
		{"OK", "", "", func(*agora.Task) {}},
		{"Slug", "slug", agora.EINVALID, func(t *agora.Task) { t.Slug = "A" }},
		{"Kind", "kind", agora.EINVALID, func(t *agora.Task) { t.Kind = "poem" }},
		{"BranchRef", "base_ref", agora.EUNPROCESSABLE, func(t *agora.Task) { t.BaseRef = "main" }},
		{"ShortSHA", "base_ref", agora.EUNPROCESSABLE, func(t *agora.Task) { t.BaseRef = "abc1234" }},
		{"Direction", "metric_direction", agora.EINVALID, func(t *agora.Task) { t.MetricDirection = "up" }},
		{"Pareto", "secondary_metric_name", agora.EINVALID, func(t *agora.Task) { t.RankingMode = agora.RankingPareto }},
		{"Globs", "allowed_patch_paths[0]", agora.EINVALID, func(t *agora.Task) { t.AllowedPatchPaths = []string{"../etc/passwd"} }},
		{"Budget", "time_budget_seconds", agora.EINVALID, func(t *agora.Task) { t.TimeBudgetSeconds = 100000 }},
		{"Quorum", "quorum", agora.EINVALID, func(t *agora.Task) { t.Quorum = 99 }},
		{"Mode", "competition_mode", agora.EINVALID, func(t *agora.Task) { t.CompetitionMode = "chaos" }},
		{"SWEOnMetric", "swe", agora.EINVALID, func(t *agora.Task) { t.SWE = &agora.SWESpec{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := validMetric()
			tc.edit(task)
			err := task.Validate()
			if agora.ErrorCode(err) != tc.code {
				t.Fatalf("code=%q (%v), want %q", agora.ErrorCode(err), err, tc.code)
			}
			if tc.field != "" && !strings.HasPrefix(agora.ErrorMessage(err), tc.field+":") {
				t.Fatalf("message %q does not start with the field %q", agora.ErrorMessage(err), tc.field)
			}
		})
	}
}

func TestPublicHidesGradingData(t *testing.T) {
	task := &agora.Task{Visibility: agora.VisibilityHidden, ValidatorEnv: map[string]string{"K": "v"},
		SWE: &agora.SWESpec{TestPatch: "t", GoldPatch: "g", FailToPass: []string{"x"}, ProblemStatement: "p"}}
	p := task.Public()
	if p.ValidatorEnv != nil || p.SWE.GoldPatch != "" || p.SWE.TestPatch != "" || p.SWE.FailToPass != nil || p.SWE.ProblemStatement != "p" {
		t.Fatalf("public view: %+v %+v", p, p.SWE)
	}
	if task.SWE.GoldPatch != "g" {
		t.Fatal("Public modified the task")
	}
	task.Visibility = agora.VisibilityPublic
	if p := task.Public(); p.SWE.TestPatch != "t" || p.SWE.GoldPatch != "" {
		t.Fatal("public tasks show tests, never the gold patch")
	}
}

func TestReplaySpecContentAddressed(t *testing.T) {
	task := validMetric()
	task.ID = "task-1"
	s := &agora.Submission{Patch: "diff"}
	b1, h1, err := agora.NewReplaySpec(task, s).Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, h2, _ := agora.NewReplaySpec(task, s).Encode()
	if h1 != h2 || agora.SHA256Hex(b1) != h1 {
		t.Fatal("the same spec must give the same hash")
	}
	s.Patch = "diff2"
	if _, h3, _ := agora.NewReplaySpec(task, s).Encode(); h3 == h1 {
		t.Fatal("a different patch must give a different hash")
	}
	if !strings.Contains(string(b1), `"version":"agora-replay-v1"`) {
		t.Fatalf("spec: %s", b1)
	}
}
