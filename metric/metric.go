// Package metric implements the metric contract of BitSota-style tasks: a
// benchmark writes a result JSON file or prints "name=value" lines, a
// validator extracts the number (Extract) and turns one replay into a verdict
// (Observe), and leaderboards compare verdicts (Better, ParetoDominates).
//
// The rules follow BitSota's public replay runner (validator/public_replay.py,
// summarized in the project's reference notes, bitsota.md §4 and §6). Where
// Go and Python differ, or where BitSota leaves a rule open, the choice made
// here is documented on the function concerned.
//
// Everything a benchmark produces is untrusted: it ran the miner's code.
// Functions here bound what they read and never panic on hostile input.
package metric

import (
	"strings"

	"github.com/agoranet/agora"
)

// Direction says whether a smaller or a larger metric value is better.
type Direction string

// Directions, spelled as in BitSota's metric_direction field.
const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// ParseDirection returns the Direction spelled s. Only the exact lower-case
// spellings are accepted, so a stored spec has one canonical form.
func ParseDirection(s string) (Direction, error) {
	d := Direction(s)
	if err := d.Validate(); err != nil {
		return "", err
	}
	return d, nil
}

// Validate returns EINVALID unless d is Minimize or Maximize.
func (d Direction) Validate() error {
	switch d {
	case Minimize, Maximize:
		return nil
	case "":
		return agora.Errorf(agora.EINVALID, "metric direction is required (minimize or maximize)")
	}
	return agora.Errorf(agora.EINVALID, "metric direction %q is not minimize or maximize", string(d))
}

// RankingMode says how observations of a task are ranked.
type RankingMode string

// Ranking modes, spelled as in BitSota's ranking_mode field.
const (
	// Scalar ranks by the primary metric alone (BitSota's default).
	Scalar RankingMode = "scalar"
	// Pareto ranks by the primary and the secondary metric together; an
	// observation wins only by dominating (see ParetoDominates).
	Pareto RankingMode = "pareto"
)

// ParseRankingMode returns the RankingMode spelled s; "" means Scalar, as in
// BitSota where the field is optional.
func ParseRankingMode(s string) (RankingMode, error) {
	switch m := RankingMode(s); m {
	case "":
		return Scalar, nil
	case Scalar, Pareto:
		return m, nil
	}
	return "", agora.Errorf(agora.EINVALID, "ranking mode %q is not scalar or pareto", s)
}

// MaxNameLen bounds a metric name (agora.MaxMetricNameLen).
const MaxNameLen = agora.MaxMetricNameLen

// ValidateName returns EINVALID unless name is a usable metric name. The
// rule is agora.ValidateMetricName, the one Task.Validate applies.
func ValidateName(name string) error { return agora.ValidateMetricName(name) }

// Spec is the metric contract of a task: which number the benchmark reports,
// where, and which way is better. JSON names are BitSota's task fields.
type Spec struct {
	// MetricName is the primary metric, e.g. "heldout_ppl".
	MetricName string `json:"metric_name"`
	// Direction says whether a lower or a higher MetricName is better.
	Direction Direction `json:"metric_direction"`
	// RankingMode is Scalar or Pareto; "" means Scalar.
	RankingMode RankingMode `json:"ranking_mode,omitempty"`
	// SecondaryName is an optional second metric; required in Pareto mode.
	// When set, a replay that does not report it is an error (BitSota §4.1).
	SecondaryName string `json:"secondary_metric_name,omitempty"`
	// SecondaryDirection is required exactly when SecondaryName is set.
	SecondaryDirection Direction `json:"secondary_metric_direction,omitempty"`
	// ResultPath is the JSON result file, relative to the repo root of the
	// run that reports the metric (the score run; the benchmark's when the
	// task has no score command), in slash form (e.g.
	// "competition_packs/x/last_run.json"); "" means the metric is read from
	// the output only.
	ResultPath string `json:"result_path,omitempty"`
}

// Validate returns EINVALID naming the first bad field (by its JSON name).
func (s Spec) Validate() error {
	bad := func(field string, err error) error {
		return agora.Errorf(agora.EINVALID, "metric spec: %s: %s", field, agora.ErrorMessage(err))
	}
	if err := ValidateName(s.MetricName); err != nil {
		return bad("metric_name", err)
	}
	if err := s.Direction.Validate(); err != nil {
		return bad("metric_direction", err)
	}
	mode, err := ParseRankingMode(string(s.RankingMode))
	if err != nil {
		return bad("ranking_mode", err)
	}
	if s.SecondaryName == "" {
		if mode == Pareto {
			return bad("secondary_metric_name", agora.Errorf(agora.EINVALID, "is required in pareto ranking mode"))
		}
		if s.SecondaryDirection != "" {
			return bad("secondary_metric_direction", agora.Errorf(agora.EINVALID, "is set but secondary_metric_name is not"))
		}
	} else {
		if err := ValidateName(s.SecondaryName); err != nil {
			return bad("secondary_metric_name", err)
		}
		// Extraction is case-insensitive in the output, so names differing
		// only in case would read the same number twice.
		if strings.EqualFold(s.SecondaryName, s.MetricName) {
			return bad("secondary_metric_name", agora.Errorf(agora.EINVALID, "must differ from metric_name"))
		}
		if err := s.SecondaryDirection.Validate(); err != nil {
			return bad("secondary_metric_direction", err)
		}
	}
	if err := ValidateResultPath(s.ResultPath); err != nil {
		return bad("result_path", err)
	}
	return nil
}

// ValidateResultPath returns EINVALID unless p is "" or a clean relative
// slash path inside the repository. The rule is agora.ValidateResultPath,
// the one Task.Validate applies; the reader must still refuse symlinks and
// non-regular files, since the command that writes the file controls the
// tree.
func ValidateResultPath(p string) error { return agora.ValidateResultPath(p) }
