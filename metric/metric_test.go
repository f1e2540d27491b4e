package metric_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/metric"
)

func TestParseDirection(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want metric.Direction
		ok   bool
	}{
		{"minimize", metric.Minimize, true},
		{"maximize", metric.Maximize, true},
		{"", "", false},
		{"Minimize", "", false},
		{"min", "", false},
		{" maximize", "", false},
	} {
		got, err := metric.ParseDirection(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseDirection(%q)=%q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("ParseDirection(%q) code=%s, want %s", tt.in, agora.ErrorCode(err), agora.EINVALID)
		}
	}
}

func TestParseRankingMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want metric.RankingMode
		ok   bool
	}{
		{"", metric.Scalar, true},
		{"scalar", metric.Scalar, true},
		{"pareto", metric.Pareto, true},
		{"Pareto", "", false},
		{"lexicographic", "", false},
	} {
		got, err := metric.ParseRankingMode(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseRankingMode(%q)=%q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"heldout_ppl", "acc", "x", "_", "eval.acc-top1", "P99", strings.Repeat("a", metric.MaxNameLen)} {
		if err := metric.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q)=%v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "a b", "acc.", "-acc", "ppl=", "ppl:x", "é", "a\nb", "(?i)x", strings.Repeat("a", metric.MaxNameLen+1)} {
		if err := metric.ValidateName(name); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("ValidateName(%q)=%v, want EINVALID", name, err)
		}
	}
}

func TestValidateResultPath(t *testing.T) {
	for _, p := range []string{"", "result.json", "competition_packs/x/last_run.json", ".hidden/r.json", "a/.gitignore", "..x/r.json"} {
		if err := metric.ValidateResultPath(p); err != nil {
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
		err := metric.ValidateResultPath(tt.path)
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), tt.msg) {
			t.Errorf("ValidateResultPath(%q)=%v, want EINVALID mentioning %q", tt.path, err, tt.msg)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	valid := metric.Spec{MetricName: "heldout_ppl", Direction: metric.Minimize}
	t.Run("OK", func(t *testing.T) {
		for _, s := range []metric.Spec{
			valid,
			{MetricName: "acc", Direction: metric.Maximize, RankingMode: metric.Scalar, ResultPath: "out/result.json"},
			{MetricName: "ppl", Direction: metric.Minimize, RankingMode: metric.Pareto, SecondaryName: "size_bytes", SecondaryDirection: metric.Minimize},
			// A scalar task may still require a secondary metric to be reported.
			{MetricName: "ppl", Direction: metric.Minimize, SecondaryName: "runtime_s", SecondaryDirection: metric.Minimize},
		} {
			if err := s.Validate(); err != nil {
				t.Errorf("%+v: Validate()=%v, want nil", s, err)
			}
		}
	})
	t.Run("ErrInvalidNamesField", func(t *testing.T) {
		for _, tt := range []struct {
			field string
			edit  func(*metric.Spec)
		}{
			{"metric_name", func(s *metric.Spec) { s.MetricName = "" }},
			{"metric_name", func(s *metric.Spec) { s.MetricName = "a b" }},
			{"metric_direction", func(s *metric.Spec) { s.Direction = "" }},
			{"metric_direction", func(s *metric.Spec) { s.Direction = "down" }},
			{"ranking_mode", func(s *metric.Spec) { s.RankingMode = "lexicographic" }},
			{"secondary_metric_name", func(s *metric.Spec) { s.RankingMode = metric.Pareto }},
			{"secondary_metric_name", func(s *metric.Spec) { s.SecondaryName = "x y"; s.SecondaryDirection = metric.Minimize }},
			{"secondary_metric_name", func(s *metric.Spec) { s.SecondaryName = "HELDOUT_PPL"; s.SecondaryDirection = metric.Minimize }},
			{"secondary_metric_direction", func(s *metric.Spec) { s.SecondaryName = "size" }},
			{"secondary_metric_direction", func(s *metric.Spec) { s.SecondaryDirection = metric.Minimize }},
			{"result_path", func(s *metric.Spec) { s.ResultPath = "/abs.json" }},
			{"result_path", func(s *metric.Spec) { s.ResultPath = "../up.json" }},
			{"result_path", func(s *metric.Spec) { s.ResultPath = ".git/config" }},
		} {
			s := valid
			tt.edit(&s)
			err := s.Validate()
			if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), tt.field+":") {
				t.Errorf("%+v: Validate()=%v, want EINVALID naming %s", s, err, tt.field)
			}
		}
	})
}
