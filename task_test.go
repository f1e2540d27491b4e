package agora_test

import (
	"encoding/json"
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
		{"ResultPathEscapes", "result_path", agora.EINVALID, func(t *agora.Task) { t.ResultPath = "../../etc/passwd" }},
		{"ResultPathAbsolute", "result_path", agora.EINVALID, func(t *agora.Task) { t.ResultPath = "/etc/passwd" }},
		{"ResultPathGit", "result_path", agora.EINVALID, func(t *agora.Task) { t.ResultPath = "x/.git/config" }},
		{"ResultPathUnclean", "result_path", agora.EINVALID, func(t *agora.Task) { t.ResultPath = "out/./r.json" }},
		{"MetricNameShape", "metric_name", agora.EINVALID, func(t *agora.Task) { t.MetricName = "loss)|(.*" }},
		{"MetricNameLong", "metric_name", agora.EINVALID, func(t *agora.Task) { t.MetricName = strings.Repeat("l", 129) }},
		{"SecondaryNameShape", "secondary_metric_name", agora.EINVALID, func(t *agora.Task) {
			t.RankingMode, t.SecondaryMetricName, t.SecondaryMetricDirection = agora.RankingPareto, "size bytes", agora.Minimize
		}},
		{"SecondarySameAsPrimary", "secondary_metric_name", agora.EINVALID, func(t *agora.Task) {
			t.RankingMode, t.SecondaryMetricName, t.SecondaryMetricDirection = agora.RankingPareto, "LOSS", agora.Minimize
		}},
		{"PayScoredTask", "pay_self_reported", agora.EINVALID, func(t *agora.Task) { t.ScoreCommand, t.PaySelfReported = "python3 score.py", true }},
		{"ValidatorEnvKey", "validator_benchmark_env", agora.EINVALID, func(t *agora.Task) { t.ValidatorEnv = map[string]string{"A=B": "x"} }},
		{"ScoredOK", "", "", func(t *agora.Task) { t.ScoreCommand, t.ResultPath = "python3 score.py", "out/result.json" }},
		{"SelfReportedPaidOK", "", "", func(t *agora.Task) { t.PaySelfReported = true }},
		{"ScoreOnSWE", "score_command", agora.EINVALID, func(t *agora.Task) {
			t.Kind, t.BenchmarkCommand, t.MetricName, t.MetricDirection, t.ScoreCommand = agora.TaskSWE, "", "", "", "x"
			t.Environment, t.SWE = "a/b", &agora.SWESpec{InstanceID: "i", ProblemStatement: "p", FailToPass: []string{"t"}}
		}},
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

// TestTaskSelfReported: self_reported is computed from the contract on
// every encoding, whatever was posted or stored.
func TestTaskSelfReported(t *testing.T) {
	for _, tc := range []struct {
		name, score string
		posted      bool
		want        bool
	}{
		{"NoScoreCommandPostedFalse", "", false, true},
		{"ScoredPostedTrue", "python3 score.py", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := validMetric()
			task.ScoreCommand, task.SelfReported = tc.score, tc.posted
			b, err := json.Marshal(task)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			json.Unmarshal(b, &back)
			if got := back["self_reported"] == true; got != tc.want || task.SelfReports() != tc.want {
				t.Fatalf("self_reported=%v SelfReports=%v, want %v (%s)", got, task.SelfReports(), tc.want, b)
			}
			if got := task.Crowns(); got != !tc.want {
				t.Fatalf("Crowns=%v, want %v", got, !tc.want)
			}
		})
	}
	if swe := (&agora.Task{Kind: agora.TaskSWE}); swe.SelfReports() || !swe.Crowns() {
		t.Fatal("a swe task is never self-reported")
	}
}

func TestValidateMetricName(t *testing.T) {
	for _, name := range []string{"heldout_ppl", "acc", "x", "_", "eval.acc-top1", "P99", strings.Repeat("a", agora.MaxMetricNameLen)} {
		if err := agora.ValidateMetricName(name); err != nil {
			t.Errorf("ValidateMetricName(%q)=%v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "a b", "acc.", "-acc", "ppl=", "ppl:x", "é", "a\nb", "(?i)x", strings.Repeat("a", agora.MaxMetricNameLen+1)} {
		if err := agora.ValidateMetricName(name); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("ValidateMetricName(%q)=%v, want EINVALID", name, err)
		}
	}
}

func TestValidateResultPath(t *testing.T) {
	for _, p := range []string{"", "result.json", "competition_packs/x/last_run.json", ".hidden/r.json", "a/.gitignore", "..x/r.json"} {
		if err := agora.ValidateResultPath(p); err != nil {
			t.Errorf("ValidateResultPath(%q)=%v, want nil", p, err)
		}
	}
	for _, tt := range []struct{ path, msg string }{
		{"/etc/passwd", "absolute"},
		{"../r.json", `".."`},
		{"a/../../r.json", `".."`},
		{"..", `".."`},
		{".git/config", "inside .git"},
		{"sub/.git/HEAD", "inside .git"},
		{".GIT/config", "inside .git"},
		{"a\\b.json", "backslash"},
		{"a\x00b", "NUL"},
		{"./r.json", "clean"},
		{"a//r.json", "clean"},
		{"a/", "clean"},
		{".", "clean"},
		{strings.Repeat("a/", 3000) + "r", "longer"},
	} {
		err := agora.ValidateResultPath(tt.path)
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), tt.msg) {
			t.Errorf("ValidateResultPath(%q)=%v, want EINVALID mentioning %q", tt.path, err, tt.msg)
		}
	}
}

// TestMetricContractValidateMetric: the one metric rule, for a task and for
// a replay alike. An empty ranking mode is scalar.
func TestMetricContractValidateMetric(t *testing.T) {
	valid := agora.MetricContract{MetricName: "heldout_ppl", MetricDirection: agora.Minimize}
	t.Run("OK", func(t *testing.T) {
		for _, c := range []agora.MetricContract{
			valid,
			{MetricName: "acc", MetricDirection: agora.Maximize, RankingMode: agora.RankingScalar, ResultPath: "out/result.json"},
			{MetricName: "ppl", MetricDirection: agora.Minimize, RankingMode: agora.RankingPareto, SecondaryMetricName: "size_bytes", SecondaryMetricDirection: agora.Minimize},
		} {
			if err := c.ValidateMetric(); err != nil {
				t.Errorf("%+v: ValidateMetric()=%v, want nil", c, err)
			}
		}
	})
	t.Run("ErrInvalidNamesField", func(t *testing.T) {
		for _, tt := range []struct {
			field string
			edit  func(*agora.MetricContract)
		}{
			{"metric_name", func(c *agora.MetricContract) { c.MetricName = "" }},
			{"metric_name", func(c *agora.MetricContract) { c.MetricName = "a b" }},
			{"metric_direction", func(c *agora.MetricContract) { c.MetricDirection = "" }},
			{"metric_direction", func(c *agora.MetricContract) { c.MetricDirection = "down" }},
			{"ranking_mode", func(c *agora.MetricContract) { c.RankingMode = "lexicographic" }},
			{"secondary_metric_name", func(c *agora.MetricContract) { c.RankingMode = agora.RankingPareto }},
			{"secondary_metric_name", func(c *agora.MetricContract) { c.SecondaryMetricName = "size" }},
			{"secondary_metric_name", func(c *agora.MetricContract) {
				c.RankingMode, c.SecondaryMetricName, c.SecondaryMetricDirection = agora.RankingPareto, "x y", agora.Minimize
			}},
			{"secondary_metric_name", func(c *agora.MetricContract) {
				c.RankingMode, c.SecondaryMetricName, c.SecondaryMetricDirection = agora.RankingPareto, "HELDOUT_PPL", agora.Minimize
			}},
			{"secondary_metric_direction", func(c *agora.MetricContract) { c.RankingMode, c.SecondaryMetricName = agora.RankingPareto, "size" }},
			{"result_path", func(c *agora.MetricContract) { c.ResultPath = "/abs.json" }},
			{"result_path", func(c *agora.MetricContract) { c.ResultPath = "../up.json" }},
			{"result_path", func(c *agora.MetricContract) { c.ResultPath = ".git/config" }},
		} {
			c := valid
			tt.edit(&c)
			err := c.ValidateMetric()
			if agora.ErrorCode(err) != agora.EINVALID || !strings.HasPrefix(agora.ErrorMessage(err), tt.field+":") {
				t.Errorf("%+v: ValidateMetric()=%v, want EINVALID naming %s", c, err, tt.field)
			}
		}
	})
}
