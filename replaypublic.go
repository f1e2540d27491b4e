package agora

import (
	"maps"
	"slices"
)

// Fields of a replay spec that are never public: their values are
// replaced by "" in the spec anyone may read, and the field is named in
// the list of elided fields.
const ElidedValidatorEnv = "validator_benchmark_env"

// ReplayWithheld says why the replay spec of submission s on task t is not
// public yet, or "" when anyone may read it (ReplaySpec.Public). It is the
// one rule for the public replay of a verdict:
//   - a hidden task's spec holds its hidden tests (the test patch,
//     FAIL_TO_PASS, PASS_TO_PASS): withheld until the task closes, then
//     public like any other (its tests no longer need protecting);
//   - a spec holds the submission's patch, which is its miner's alone
//     until it is judged: withheld until the submission has a verdict.
//     From then on the patch is public through its spec, so anyone can
//     re-run the verdict; priority was fixed when it was submitted.
func ReplayWithheld(t *Task, s *Submission) string {
	switch {
	case t.Visibility == VisibilityHidden && t.State != TaskClosed:
		return "the task is hidden: its replay specs hold its hidden tests and are withheld until it closes"
	case s.Status == SubmissionPending || s.Status == SubmissionHeld || s.Verdict == nil:
		return "the submission has no verdict yet: its patch is its miner's until it is judged"
	}
	return ""
}

// Public returns the spec as the public may read it, and the JSON names of
// the fields whose values it elided (nil when nothing was: then the spec's
// own bytes are public, and their hash is the spec hash). The
// validator-only environment is always elided: its names stay, its values
// become "". A spec with elided fields cannot be replayed to the same
// result by the public; its hash no longer matches either.
func (r *ReplaySpec) Public() (*ReplaySpec, []string) {
	if len(r.ValidatorEnv) == 0 {
		return r, nil
	}
	c := *r
	c.ValidatorEnv = map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(r.ValidatorEnv)) {
		c.ValidatorEnv[k] = ""
	}
	return &c, []string{ElidedValidatorEnv}
}
