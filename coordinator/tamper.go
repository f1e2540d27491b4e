package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/patch"
)

// TamperStore is what TamperGate needs from storage; sqldb.DB provides it.
type TamperStore interface {
	FindTaskByID(ctx context.Context, id string) (*agora.Task, error)
	CreateSubmission(ctx context.Context, s *agora.Submission) (bool, error)
	FindSubmissionByID(ctx context.Context, id string) (*agora.Submission, error)
	ReleaseSubmission(ctx context.Context, id, by string) (*agora.Submission, error)
	RejectHeldSubmission(ctx context.Context, id, by string) (*agora.Submission, error)
}

// MaxNamedFindings is how many findings a refusal names; the rest are
// counted.
const MaxNamedFindings = 20

// TamperGate puts the static tampering scan (patch.ScanTampering) in
// front of miners' submissions and applies the task's tamper policy
// (agora.Task.EffectiveTamperPolicy): under reject a patch with findings is
// refused, naming each; under hold it is stored held, with no job until
// the task's owner releases it. The policy is resolved here, once, and
// frozen into the replay spec, so validators apply the same rule to the
// patches agents produce. Set the fields, then call its methods.
type TamperGate struct {
	Store TamperStore
	// Rewards are the coordinator's reward policies. A task whose
	// competition one of them pays defaults to reject (see Paid).
	Rewards []agora.RewardPolicy
	Logger  *slog.Logger
}

func (g *TamperGate) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.Default()
	}
	return g.Logger
}

// Paid reports whether a competition's results are paid: a reward policy
// names it with a budget or a weight. A task without a competition is
// never paid. It is what the coordinator knows when a submission arrives;
// the policy it implies is frozen with the submission.
func Paid(policies []agora.RewardPolicy, competition string) bool {
	if competition == "" {
		return false
	}
	for _, p := range policies {
		if p.Competition == competition && (p.Budget > 0 || p.Weight > 0) {
			return true
		}
	}
	return false
}

// ScanRepo is the repository name a task's patches are scanned for: the
// SWE-bench environment ("owner/name") when there is one, else the
// repository's location.
func ScanRepo(t *agora.Task) string {
	if strings.Count(t.Environment, "/") == 1 {
		return t.Environment
	}
	return t.Repository
}

// Findings scans a patch for a task. A patch that does not parse has no
// findings: no validator runs it (the harness refuses it before applying
// anything), and it is refused there with the line at fault.
func Findings(t *agora.Task, diff string) []patch.Finding {
	if diff == "" {
		return nil
	}
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		return nil
	}
	return patch.ScanTampering(p, patch.ScanOptions{Repo: ScanRepo(t)})
}

// Submit scans s's patch and stores s: with no finding as usual; under
// the reject policy it refuses it with EUNPROCESSABLE naming each finding
// ("path:line rule"); under hold it stores it with status held. created
// is CreateSubmission's. Errors are the store's otherwise (ENOTFOUND for
// an unknown task).
func (g *TamperGate) Submit(ctx context.Context, s *agora.Submission) (created bool, err error) {
	t, err := g.Store.FindTaskByID(ctx, s.TaskID)
	if err != nil {
		return false, err
	}
	s.TamperPolicy = t.EffectiveTamperPolicy(Paid(g.Rewards, t.Competition))
	s.Status, s.Hold = "", nil
	fs := Findings(t, s.Patch)
	if len(fs) > 0 {
		if s.TamperPolicy == agora.TamperReject {
			g.logger().Info("submission refused: tampering findings", "task", t.ID, "miner", s.Miner, "findings", len(fs), "first", fs[0].String())
			return false, Refusal(fs)
		}
		hold := &agora.Hold{Findings: make([]agora.TamperFinding, 0, len(fs))}
		for _, f := range fs {
			hold.Findings = append(hold.Findings, agora.TamperFinding{Path: f.Path, Line: f.Line, Rule: f.Rule, Text: f.Text})
		}
		s.Status, s.Hold = agora.SubmissionHeld, hold
	}
	created, err = g.Store.CreateSubmission(ctx, s)
	if err == nil && created && s.Status == agora.SubmissionHeld {
		g.logger().Info("submission held for its owner: tampering findings", "submission", s.ID, "task", t.ID, "miner", s.Miner, "findings", len(fs))
	}
	return created, err
}

// Refusal is the EUNPROCESSABLE error naming findings, at most
// MaxNamedFindings of them.
func Refusal(fs []patch.Finding) error {
	names := make([]string, 0, min(len(fs), MaxNamedFindings))
	for i, f := range fs {
		if i == MaxNamedFindings {
			names = append(names, fmt.Sprintf("and %d more", len(fs)-i))
			break
		}
		names = append(names, f.String())
	}
	return agora.Errorf(agora.EUNPROCESSABLE, "patch: refused, it reaches into the test runner (tamper_policy %s): %s",
		agora.TamperReject, strings.Join(names, "; "))
}

// Release queues the jobs of a held submission. Only the task's owner may
// (the hotkey that created it; any owner when the task records none):
// EFORBIDDEN otherwise. Idempotent. ENOTFOUND, ECONFLICT (never held, or
// rejected).
func (g *TamperGate) Release(ctx context.Context, id, who string) (*agora.Submission, error) {
	if err := g.authorize(ctx, id, who); err != nil {
		return nil, err
	}
	s, err := g.Store.ReleaseSubmission(ctx, id, who)
	if err == nil {
		g.logger().Info("held submission released", "submission", id, "by", who)
	}
	return s, err
}

// Reject rejects a held submission, with the same rules as Release.
func (g *TamperGate) Reject(ctx context.Context, id, who string) (*agora.Submission, error) {
	if err := g.authorize(ctx, id, who); err != nil {
		return nil, err
	}
	s, err := g.Store.RejectHeldSubmission(ctx, id, who)
	if err == nil {
		g.logger().Info("held submission rejected", "submission", id, "by", who)
	}
	return s, err
}

// authorize lets the task's owner decide on its held submissions.
func (g *TamperGate) authorize(ctx context.Context, id, who string) error {
	s, err := g.Store.FindSubmissionByID(ctx, id)
	if err != nil {
		return err
	}
	t, err := g.Store.FindTaskByID(ctx, s.TaskID)
	if err != nil {
		return err
	}
	if t.CreatedBy != "" && t.CreatedBy != who {
		return agora.Errorf(agora.EFORBIDDEN, "submission %s: only the owner of task %s decides on its held submissions", id, t.Slug)
	}
	return nil
}
