// Package coordinator holds the coordinator's logic over the root
// services: what happens between a request the http package has decoded
// and authorized and the store (tampering scans, league stages and
// crowning, reward epochs and their claim trees, peer assignment,
// benchmark imports), and what the coordinator command runs on a timer.
// It imports the root and logic packages (agent, merkle, patch,
// swebench, hotkey), never a transport or a database.
package coordinator

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// Store is what the coordinator logic needs from storage; sqldb.DB
// provides it.
type Store interface {
	agora.TaskService
	agora.SubmissionService
	agora.JobService
	agora.EpochService
	agora.LeagueService
	// AllSubmissions returns a task's submissions, unpaged, for boards.
	AllSubmissions(ctx context.Context, taskID string, statuses ...string) ([]*agora.Submission, error)
}

// Coordinator defaults.
const (
	// DefaultClaimLeaf is the claim tree's default leaf encoding.
	DefaultClaimLeaf = ClaimLeafBytes32
	// MaxSimilarityPeers bounds how many earlier agents an upload is
	// compared with (the newest version of each other miner, and the
	// incumbent).
	MaxSimilarityPeers = 200
	// MaxAssignBatch is how many peer_evaluation submissions one
	// AssignPeers call gives evaluators to.
	MaxAssignBatch = 100
)

// Coordinator is the coordinator's logic. Set the fields, then call its
// methods; it is safe for concurrent use, and several replicas may run it
// over one database.
type Coordinator struct {
	Store Store
	// Rewards are the reward policies epochs are closed with; a task
	// whose competition one of them pays defaults to the reject tamper
	// policy.
	Rewards []agora.RewardPolicy
	// EpochBudget is shared among the weighted reward policies.
	EpochBudget uint64
	// WeightPolicy, if set, is frozen into every reward snapshot.
	WeightPolicy *agora.WeightPolicy
	// ClaimLeaf is the claim tree's leaf encoding, ClaimLeafBytes32 or
	// ClaimLeafAddress (default DefaultClaimLeaf).
	ClaimLeaf string
	// RepoSource is the template imported SWE-bench tasks get as their
	// repository (agora.ExpandRepoSource; default
	// agora.DefaultRepoSource).
	RepoSource string
	// Miners are the registered miners given statically (the
	// coordinator's --miner list); with the metagraph's
	// (SetRegisteredMiners) they may be assigned peer evaluations.
	Miners []string
	Logger *slog.Logger
	// Now is the clock epochs are closed by (default time.Now).
	Now func() time.Time

	// registered are the hotkeys registered on the subnet, set by
	// SetRegisteredMiners.
	registered atomic.Pointer[[]string]
}

func (c *Coordinator) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Coordinator) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// tamperGate is the scan submissions go through; it holds no state of its
// own, so one per call costs nothing.
func (c *Coordinator) tamperGate() *TamperGate {
	return &TamperGate{Store: c.Store, Rewards: c.Rewards, Logger: c.Logger}
}

// Submit scans a submission's patch and stores it, as TamperGate.Submit:
// EUNPROCESSABLE for a patch refused under the reject policy, ENOTFOUND
// for an unknown task, and the store's errors (EINVALID, ECONFLICT).
func (c *Coordinator) Submit(ctx context.Context, s *agora.Submission) (created bool, err error) {
	created, err = c.tamperGate().Submit(ctx, s)
	if err == nil && created {
		c.logger().Info("submission", "submission", s.ID, "task", s.TaskID, "miner", s.Miner, "patch_bytes", len(s.Patch))
	}
	return created, err
}

// ReleaseHeld queues the jobs of a held submission, as TamperGate.Release:
// EFORBIDDEN unless who owns its task, ENOTFOUND, ECONFLICT.
func (c *Coordinator) ReleaseHeld(ctx context.Context, id, who string) (*agora.Submission, error) {
	return c.tamperGate().Release(ctx, id, who)
}

// RejectHeld rejects a held submission, as TamperGate.Reject: EFORBIDDEN
// unless who owns its task, ENOTFOUND, ECONFLICT.
func (c *Coordinator) RejectHeld(ctx context.Context, id, who string) (*agora.Submission, error) {
	return c.tamperGate().Reject(ctx, id, who)
}

// RecordResult stores a validator's result (agora.JobService.RecordResult:
// EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT) and, when it is new and
// finishes a league job, advances the job's agent. A failed advance is
// logged and retried by AdvanceAgents, so the result itself stands.
func (c *Coordinator) RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error) {
	if err := c.verifyResult(ctx, r); err != nil {
		return nil, false, err
	}
	res, created, err := c.Store.RecordResult(ctx, r, log)
	if err != nil || !created {
		return res, created, err
	}
	c.logger().Info("result", "job", res.JobID, "submission", res.SubmissionID, "validator", res.Validator, "status", res.Status)
	if sub, err := c.Store.FindSubmissionByID(ctx, res.SubmissionID); err == nil && sub.AgentID != "" {
		if err := c.AdvanceAgent(ctx, sub.AgentID); err != nil {
			c.logger().Warn("agent advance failed; will retry", "agent", sub.AgentID, "err", err)
		}
	}
	return res, created, nil
}

// verifyResult checks a signed result's signature before it is stored:
// EINVALID naming the field (signer, signature, submission_id) when it is
// not the validator's signature over what the result says for its
// submission's replay spec. An unsigned result passes: BitSota's
// validators do not sign results, and agora replay reports such results as
// unsigned. Agora's validator always signs.
func (c *Coordinator) verifyResult(ctx context.Context, r *agora.Result) error {
	if r.Signature == "" && r.Signer == "" {
		return nil
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if r.SubmissionID == "" {
		return agora.Errorf(agora.EINVALID, "submission_id: required with a signature (the signature covers it)")
	}
	if r.Signer != r.Validator {
		return agora.Errorf(agora.EINVALID, "signer: %s signed the result, but %s posted it", r.Signer, r.Validator)
	}
	sub, err := c.Store.FindSubmissionByID(ctx, r.SubmissionID)
	if err != nil {
		return err
	}
	if err := hotkey.VerifyResult(sub.ReplaySpecHash, r); err != nil {
		return agora.Errorf(agora.EINVALID, "signature: %v", err)
	}
	return nil
}
