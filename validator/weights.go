package validator

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/hotkey"
)

// SnapshotSource gives the latest closed reward snapshot (the
// coordinator); ENOTFOUND before the first epoch.
type SnapshotSource interface {
	LatestSnapshot(ctx context.Context) (*agora.RewardSnapshot, error)
}

// Commit-reveal modes.
const (
	CommitRevealAuto = "auto" // follow the subnet's CommitRevealWeightsEnabled
	CommitRevealOn   = "on"   // always commit, then reveal (v2)
	CommitRevealOff  = "off"  // always set_weights directly
)

// DefaultBlockTime is how long a block takes on Finney, for sleeping
// until the next decision.
const DefaultBlockTime = 12 * time.Second

// WeightSetter turns the coordinator's latest reward snapshot into chain
// weights: its weight policy resolved through the metagraph, converted to
// u16 as the Bittensor SDK does, and set once per tempo (never faster than
// the subnet's rate limit), directly or by commit-reveal v2. Without a
// chain it only logs what it would set.
type WeightSetter struct {
	Chain      chain.Client // nil: log only
	Signer     *hotkey.Signer
	Netuid     uint16
	VersionKey uint64
	// CommitReveal is auto (default), on or off.
	CommitReveal string
	Snapshots    SnapshotSource
	// Every is how often to look without a chain (default 10m); with one,
	// the wait comes from the tempo and BlockTime.
	Every     time.Duration
	BlockTime time.Duration
	Logger    *slog.Logger

	// A commit waiting for its reveal epoch.
	pending *pendingCommit
	// The snapshot last logged without a chain, to log each once.
	lastLogged int
}

type pendingCommit struct {
	uids, vals, salt []uint16
	epoch            uint64 // the subnet epoch it was committed in
}

// Decision is what one step did, for logs and tests.
type Decision struct {
	Action  string // "set", "commit", "reveal", "wait", "log", "skip"
	Block   uint64
	UIDs    []uint16
	Values  []uint16
	Weights []agora.ResolvedWeight
	Notes   []string
	Tx      chain.TxHash
	// Next is how long to wait before the next step.
	Next time.Duration
}

func (w *WeightSetter) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default().With("component", "weights")
	}
	return w.Logger
}

// Run steps until ctx ends; errors are logged and retried.
func (w *WeightSetter) Run(ctx context.Context) {
	for {
		d, err := w.Step(ctx)
		next := d.Next
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.logger().Warn("weights", "err", agora.ErrorMessage(err))
			next = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// epochOf is the subnet epoch a block is in, as subtensor counts it.
func epochOf(block uint64, netuid, tempo uint16) uint64 {
	return (block + uint64(netuid) + 1) / (uint64(tempo) + 1)
}

// Step makes one decision: reveal a due commit, set (or commit) weights
// when the last update is a tempo old, or wait.
func (w *WeightSetter) Step(ctx context.Context) (Decision, error) {
	every := w.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	bt := w.BlockTime
	if bt <= 0 {
		bt = DefaultBlockTime
	}
	if w.Chain == nil {
		return w.logOnly(ctx, every)
	}
	block, err := w.Chain.BlockNumber(ctx)
	if err != nil {
		return Decision{}, err
	}
	hp, err := w.Chain.Hyperparams(ctx, w.Netuid)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Block: block, Next: time.Duration(max(hp.Tempo/4, 1)) * bt}
	epoch := epochOf(block, w.Netuid, hp.Tempo)
	if p := w.pending; p != nil {
		if epoch <= p.epoch {
			d.Action = "wait"
			d.Notes = append(d.Notes, fmt.Sprintf("commit from epoch %d is revealed in the next epoch (now %d)", p.epoch, epoch))
			return d, nil
		}
		tx, err := w.Chain.RevealWeights(ctx, w.Signer, w.Netuid, p.uids, p.vals, p.salt, w.version(hp))
		if err != nil {
			return d, err
		}
		w.pending = nil
		d.Action, d.UIDs, d.Values, d.Tx = "reveal", p.uids, p.vals, tx
		w.logger().Info("weights revealed", "block", block, "uids", len(p.uids), "tx", tx.String())
		return d, nil
	}
	neurons, err := w.Chain.Metagraph(ctx, w.Netuid)
	if err != nil {
		return d, err
	}
	me, ok := uidOf(neurons)(w.Signer.Address())
	if !ok {
		return d, agora.Errorf(agora.ENOTFOUND, "validator hotkey %s is not registered on subnet %d", w.Signer.Address(), w.Netuid)
	}
	last, err := w.Chain.LastUpdate(ctx, w.Netuid, me)
	if err != nil {
		return d, err
	}
	// Once per tempo, and never faster than the rate limit.
	due := last + max(uint64(hp.Tempo), hp.WeightsSetRateLimit)
	if last != 0 && block < due {
		d.Action = "wait"
		d.Next = time.Duration(due-block) * bt
		return d, nil
	}
	snap, err := w.Snapshots.LatestSnapshot(ctx)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		d.Action, d.Notes = "skip", []string{"no reward epoch has closed yet"}
		return d, nil
	} else if err != nil {
		return d, err
	}
	weights, notes, err := snapshotPolicy(snap).Resolve(snap.Payouts, uidOf(neurons))
	d.Weights, d.Notes = weights, notes
	if err != nil {
		return d, err
	}
	uids, vals, err := convert(weights)
	if err != nil {
		return d, err
	}
	if len(uids) == 0 {
		d.Action = "skip"
		d.Notes = append(d.Notes, "every weight is zero")
		return d, nil
	}
	d.UIDs, d.Values = uids, vals
	if w.commitReveal(hp) {
		salt := make([]uint16, 8)
		var b [16]byte
		rand.Read(b[:])
		for i := range salt {
			salt[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		hash := chain.CommitHash(w.Signer.PublicKey(), chain.NetuidIndex(w.Netuid, 0), uids, vals, salt, w.version(hp))
		tx, err := w.Chain.CommitWeights(ctx, w.Signer, w.Netuid, hash)
		if err != nil {
			return d, err
		}
		w.pending = &pendingCommit{uids: uids, vals: vals, salt: salt, epoch: epoch}
		d.Action, d.Tx = "commit", tx
	} else {
		tx, err := w.Chain.SetWeights(ctx, w.Signer, w.Netuid, uids, vals, w.version(hp))
		if err != nil {
			return d, err
		}
		d.Action, d.Tx = "set", tx
	}
	w.logger().Info("weights "+d.Action, "block", block, "epoch", snap.Epoch, "uids", uids, "values", vals, "tx", d.Tx.String(),
		"notes", strings.Join(d.Notes, "; "))
	return d, nil
}

// logOnly logs, once per snapshot, the weights a validator would set,
// with hotkeys left unresolved (there is no metagraph to ask).
func (w *WeightSetter) logOnly(ctx context.Context, every time.Duration) (Decision, error) {
	d := Decision{Action: "log", Next: every}
	snap, err := w.Snapshots.LatestSnapshot(ctx)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		d.Action = "skip"
		return d, nil
	} else if err != nil {
		return d, err
	}
	if snap.Epoch == w.lastLogged {
		d.Action = "skip"
		return d, nil
	}
	w.lastLogged = snap.Epoch
	pol := snapshotPolicy(snap)
	var parts []string
	for _, t := range pol.Targets {
		if t.Kind != agora.TargetMiners {
			parts = append(parts, t.String())
			continue
		}
		for _, p := range snap.Payouts {
			if p.Amount > 0 {
				parts = append(parts, fmt.Sprintf("%s earned %d (of the miners' %g)", p.Hotkey, p.Amount, t.Share))
			}
		}
	}
	d.Notes = parts
	w.logger().Info("no chain endpoint: weights not set; they would be", "epoch", snap.Epoch, "targets", strings.Join(parts, "; "))
	return d, nil
}

// snapshotPolicy is the snapshot's weight policy, or everything to the
// epoch's miners when it has none.
func snapshotPolicy(s *agora.RewardSnapshot) *agora.WeightPolicy {
	if s.WeightPolicy != nil {
		return s.WeightPolicy
	}
	return &agora.WeightPolicy{Targets: []agora.WeightTarget{{Kind: agora.TargetMiners, Share: 1}}}
}

func uidOf(neurons []chain.Neuron) func(string) (uint16, bool) {
	m := make(map[string]uint16, len(neurons))
	for _, n := range neurons {
		m[n.Hotkey] = n.UID
	}
	return func(hk string) (uint16, bool) { u, ok := m[hk]; return u, ok }
}

func convert(ws []agora.ResolvedWeight) ([]uint16, []uint16, error) {
	uids := make([]uint16, len(ws))
	vals := make([]float64, len(ws))
	for i, r := range ws {
		uids[i], vals[i] = r.UID, r.Weight
	}
	return chain.ConvertWeights(uids, vals)
}

// version is the configured key; the client refuses one below the
// subnet's WeightsVersionKey, which is how an owner makes validators
// upgrade, so it is never raised to pass.
func (w *WeightSetter) version(chain.Hyperparams) uint64 { return w.VersionKey }

func (w *WeightSetter) commitReveal(hp chain.Hyperparams) bool {
	switch w.CommitReveal {
	case CommitRevealOn:
		return true
	case CommitRevealOff:
		return false
	}
	return hp.CommitRevealEnabled
}
