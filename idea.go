package agora

import (
	"sort"
	"time"
)

// Idea reward roles on a centerless task.
const (
	IdeaProposer    = "proposer"
	IdeaImplementer = "implementer"
)

// IdeaRewardShare is the share of one credited implementation each side
// earns: the miner who proposed the idea and the miner whose accepted
// submission implemented it split it evenly. BitSota does not publish its
// split; an even one credits neither side for the other's work.
const IdeaRewardShare = 0.5

// IdeaReward credits one side of an implemented idea on a centerless task.
type IdeaReward struct {
	// ID is the implementing submission's id and the role.
	ID     string `json:"id"`
	TaskID string `json:"task_id"`
	Role   string `json:"role"`
	Miner  string `json:"miner_hotkey"`
	// SubmissionID is the accepted submission that implemented the idea;
	// IdeaSubmissionID the submission that proposed it.
	SubmissionID     string  `json:"submission_id"`
	IdeaSubmissionID string  `json:"idea_submission_id"`
	Share            float64 `json:"share"`
	// CreatedAt is when the implementing submission was accepted.
	CreatedAt time.Time `json:"created_at"`
}

// IdeaRewards derives the idea rewards of task t from its submissions
// (all of them, any status): every accepted submission that names, as
// implemented_submission_id, another miner's idea-bearing submission of
// the task credits that idea's proposer and its own miner, IdeaRewardShare
// each. Only the earliest accepted implementation of an idea by a miner
// counts, so resubmitting the same implementation farms nothing, and a
// miner implementing its own idea earns nothing (it would be paid twice
// for one piece of work). Held submissions propose nothing: the tampering
// scan stopped them. Tasks other than centerless have none.
//
// Rewards are derived, not stored: they follow from the submissions and
// their verdicts, which are immutable once decided, so the same records
// always give the same rewards.
func IdeaRewards(t *Task, subs []*Submission) []*IdeaReward {
	if t == nil || t.CompetitionMode != ModeCenterless {
		return nil
	}
	byID := make(map[string]*Submission, len(subs))
	var accepted []*Submission
	for _, s := range subs {
		if s.TaskID != t.ID {
			continue
		}
		byID[s.ID] = s
		if s.Status == SubmissionAccepted && s.ImplementedID != "" {
			accepted = append(accepted, s)
		}
	}
	sort.Slice(accepted, func(i, j int) bool {
		a, b := acceptedAt(accepted[i]), acceptedAt(accepted[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return accepted[i].ID < accepted[j].ID
	})
	type pair struct{ idea, implementer string }
	seen := map[pair]bool{}
	var out []*IdeaReward
	for _, s := range accepted {
		idea := byID[s.ImplementedID]
		if idea == nil || idea.ID == s.ID || idea.ProposedIdea == "" || idea.Miner == s.Miner || idea.Status == SubmissionHeld {
			continue
		}
		k := pair{idea.ID, s.Miner}
		if seen[k] {
			continue
		}
		seen[k] = true
		at := acceptedAt(s)
		out = append(out,
			&IdeaReward{ID: s.ID + ":" + IdeaProposer, TaskID: t.ID, Role: IdeaProposer, Miner: idea.Miner,
				SubmissionID: s.ID, IdeaSubmissionID: idea.ID, Share: IdeaRewardShare, CreatedAt: at},
			&IdeaReward{ID: s.ID + ":" + IdeaImplementer, TaskID: t.ID, Role: IdeaImplementer, Miner: s.Miner,
				SubmissionID: s.ID, IdeaSubmissionID: idea.ID, Share: IdeaRewardShare, CreatedAt: at})
	}
	return out
}

// acceptedAt is when s's verdict was decided (its last update without one).
func acceptedAt(s *Submission) time.Time {
	if s.Verdict != nil && !s.Verdict.DecidedAt.IsZero() {
		return s.Verdict.DecidedAt
	}
	return s.UpdatedAt
}
