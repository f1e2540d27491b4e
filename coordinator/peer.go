package coordinator

import (
	"context"

	"github.com/agoranet/agora"
)

// SetRegisteredMiners replaces the hotkeys registered on the subnet (the
// metagraph's), which with Miners are the miners that may be assigned
// peer evaluations. Safe to call while serving.
func (c *Coordinator) SetRegisteredMiners(hotkeys []string) {
	l := append([]string(nil), hotkeys...)
	c.registered.Store(&l)
}

// Registered returns the registered miners: Miners and the metagraph's.
// Empty when neither is configured.
func (c *Coordinator) Registered() []string {
	out := append([]string(nil), c.Miners...)
	if l := c.registered.Load(); l != nil {
		out = append(out, *l...)
	}
	return out
}

// MayEvaluate reports whether who is a registered miner, and so may
// evaluate peers: EFORBIDDEN otherwise, or when there are none at all.
func (c *Coordinator) MayEvaluate(who string) error {
	_, err := c.mayEvaluate(who)
	return err
}

// mayEvaluate checks who is a registered miner and returns the set.
func (c *Coordinator) mayEvaluate(who string) ([]string, error) {
	registered := c.Registered()
	if len(registered) == 0 {
		return nil, agora.Errorf(agora.EFORBIDDEN, "peer evaluation is closed: this coordinator has no registered miners (start it with --miner, or --chain to take them from the subnet's metagraph)")
	}
	for _, h := range registered {
		if h == who {
			return registered, nil
		}
	}
	return nil, agora.Errorf(agora.EFORBIDDEN, "%s is not a registered miner: only registered miners evaluate peers", who)
}

// PeerEvaluate records r, the evaluation by the registered miner
// r.Validator of submission r.SubmissionID, once. The first evaluation
// attempt fixes the submission's evaluators if no listing did. EFORBIDDEN
// for a miner that is not registered or not assigned; EINVALID for a
// signature that does not check (verifyResult); the store's otherwise
// (agora.JobService.RecordPeerEvaluation).
func (c *Coordinator) PeerEvaluate(ctx context.Context, r *agora.Result) (*agora.Result, error) {
	registered, err := c.mayEvaluate(r.Validator)
	if err != nil {
		return nil, err
	}
	if err := c.verifyResult(ctx, r); err != nil {
		return nil, err
	}
	// A decided submission keeps its (lack of) assignment and the store
	// says why.
	if _, err := c.Store.AssignEvaluators(ctx, r.SubmissionID, registered); err != nil && agora.ErrorCode(err) != agora.ECONFLICT {
		return nil, err
	}
	res, err := c.Store.RecordPeerEvaluation(ctx, r)
	if err != nil {
		return nil, err
	}
	c.logger().Info("peer evaluation", "submission", r.SubmissionID, "evaluator", r.Validator, "status", res.Status)
	return res, nil
}

// AssignPeers gives evaluators to peer_evaluation submissions that have
// none yet, oldest first, up to MaxAssignBatch. A submission without
// enough registered miners waits for the next call. The coordinator runs
// it on a timer; listing assignments runs it too. It returns the store's
// errors, except the ones that concern a single submission.
func (c *Coordinator) AssignPeers(ctx context.Context) error {
	registered := c.Registered()
	if len(registered) == 0 {
		return nil
	}
	ids, err := c.Store.UnassignedPeerSubmissions(ctx, MaxAssignBatch)
	if err != nil {
		return err
	}
	for _, id := range ids {
		as, err := c.Store.AssignEvaluators(ctx, id, registered)
		switch agora.ErrorCode(err) {
		case "":
			c.logger().Info("peer evaluators assigned", "submission", id, "evaluators", len(as))
		case agora.EUNAVAILABLE:
			c.logger().Debug("peer evaluators wait", "submission", id, "reason", agora.ErrorMessage(err))
		case agora.EINVALID, agora.ECONFLICT:
		default:
			return err
		}
	}
	return nil
}
