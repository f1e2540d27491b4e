package chain

import (
	"context"
	"fmt"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// SetWeights submits set_weights. Unless Options.SkipPreflight is set it
// first refuses, with EUNPROCESSABLE, what the chain would refuse at
// dispatch: commit-reveal enabled on the subnet, or a version key below
// WeightsVersionKey.
func (c *RPCClient) SetWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, uids, vals []uint16, versionKey uint64) (TxHash, error) {
	if len(uids) != len(vals) {
		return TxHash{}, agora.Errorf(agora.EINVALID, "chain: set_weights: %d uids but %d weights", len(uids), len(vals))
	}
	if !c.opts.SkipPreflight {
		hp, err := c.Hyperparams(ctx, netuid)
		if err != nil {
			return TxHash{}, err
		}
		if hp.CommitRevealEnabled {
			return TxHash{}, agora.Errorf(agora.EUNPROCESSABLE,
				"chain: set_weights: commit-reveal is enabled on subnet %d, so the chain would fail it with CommitRevealEnabled; use CommitWeights and RevealWeights, or have the owner disable commit-reveal", netuid)
		}
		if hp.WeightsVersionKey != 0 && versionKey < hp.WeightsVersionKey {
			return TxHash{}, agora.Errorf(agora.EUNPROCESSABLE,
				"chain: set_weights: version key %d is below subnet %d's WeightsVersionKey %d (IncorrectWeightVersionKey)", versionKey, netuid, hp.WeightsVersionKey)
		}
	}
	return c.Submit(ctx, s, SetWeightsCall(netuid, uids, vals, versionKey))
}

// CommitWeights submits commit_weights. Unless Options.SkipPreflight is
// set it first checks that commit-reveal is enabled on the subnet
// (otherwise the chain fails the call with CommitRevealDisabled).
func (c *RPCClient) CommitWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, hash [32]byte) (TxHash, error) {
	if err := c.requireCommitReveal(ctx, "commit_weights", netuid); err != nil {
		return TxHash{}, err
	}
	return c.Submit(ctx, s, CommitWeightsCall(netuid, hash))
}

// RevealWeights submits reveal_weights, with the preflight check of
// CommitWeights.
func (c *RPCClient) RevealWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, uids, vals, salt []uint16, versionKey uint64) (TxHash, error) {
	if len(uids) != len(vals) {
		return TxHash{}, agora.Errorf(agora.EINVALID, "chain: reveal_weights: %d uids but %d values", len(uids), len(vals))
	}
	if err := c.requireCommitReveal(ctx, "reveal_weights", netuid); err != nil {
		return TxHash{}, err
	}
	return c.Submit(ctx, s, RevealWeightsCall(netuid, uids, vals, salt, versionKey))
}

func (c *RPCClient) requireCommitReveal(ctx context.Context, call string, netuid uint16) error {
	if c.opts.SkipPreflight {
		return nil
	}
	on, err := c.commitRevealEnabled(ctx, netuid)
	if err != nil {
		return err
	}
	if !on {
		return agora.Errorf(agora.EUNPROCESSABLE,
			"chain: %s: commit-reveal is disabled on subnet %d, so the chain would fail it with CommitRevealDisabled; use SetWeights", call, netuid)
	}
	return nil
}

// Submit signs call with s and submits it with author_submitExtrinsic,
// returning the transaction hash. Acceptance means the node's pool took the
// transaction; whether its dispatch succeeds shows only in the block's
// events, which this client does not follow.
//
// It reads what signing needs fresh each time (runtime version, nonce,
// era checkpoint); only the genesis hash is cached.
func (c *RPCClient) Submit(ctx context.Context, s *hotkey.Signer, call []byte) (TxHash, error) {
	if s == nil {
		return TxHash{}, agora.Errorf(agora.EINVALID, "chain: submit: no signer")
	}
	c.submitMu.Lock()
	defer c.submitMu.Unlock()
	p, err := c.txParams(ctx, s.Address())
	if err != nil {
		return TxHash{}, err
	}
	ext, err := SignedExtrinsic(s, call, c.Extensions(), &p)
	if err != nil {
		return TxHash{}, err
	}
	label := "author_submitExtrinsic " + callName(call)
	raw, err := c.rpc.call(ctx, label, "author_submitExtrinsic", hexArg(ext))
	if err != nil {
		return TxHash{}, err
	}
	h, err := hashResult(label, raw)
	if err != nil {
		return TxHash{}, err
	}
	return TxHash(h), nil
}

// txParams gathers what the extensions encode, for signer address.
func (c *RPCClient) txParams(ctx context.Context, address string) (TxParams, error) {
	var p TxParams
	var err error
	if p.Genesis, err = c.Genesis(ctx); err != nil {
		return p, err
	}
	rv, err := c.RuntimeVersion(ctx)
	if err != nil {
		return p, err
	}
	p.SpecVersion, p.TxVersion = rv.SpecVersion, rv.TransactionVersion
	if p.Nonce, err = c.AccountNonce(ctx, address); err != nil {
		return p, err
	}
	p.Tip = c.opts.Tip
	if c.opts.Immortal {
		p.EraBlock = p.Genesis
		return p, nil
	}
	// Anchor the era at the finalized head: a best block can still be
	// reorganised away, and with it the block hash the signature commits
	// to.
	num, hash, err := c.FinalizedHead(ctx)
	if err != nil {
		return p, err
	}
	p.Era = MortalEra(c.opts.MortalPeriod, num)
	p.EraBlock = hash
	if birth := p.Era.Birth(num); birth != num {
		// Periods above 4096 quantize the phase, moving the birth block
		// back from the anchor.
		if p.EraBlock, err = c.BlockHash(ctx, birth); err != nil {
			return p, err
		}
	}
	return p, nil
}

// callName names a SubtensorModule weights call for error messages.
func callName(call []byte) string {
	if len(call) >= 2 && call[0] == SubtensorModuleIndex {
		switch call[1] {
		case CallSetWeights:
			return "SubtensorModule.set_weights"
		case CallCommitWeights:
			return "SubtensorModule.commit_weights"
		case CallRevealWeights:
			return "SubtensorModule.reveal_weights"
		}
	}
	if len(call) >= 2 {
		return fmt.Sprintf("call %d.%d", call[0], call[1])
	}
	return "call"
}
