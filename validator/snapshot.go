package validator

import (
	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
)

// SnapshotPolicy is the weight policy a validator applies to snap: the
// snapshot's own, or everything to the epoch's miners when it has none.
func SnapshotPolicy(snap *agora.RewardSnapshot) *agora.WeightPolicy { return snapshotPolicy(snap) }

// ResolveSnapshot resolves snap's weights through the metagraph's neurons,
// as WeightSetter does before it sets them. With no neurons only uid
// targets resolve (agora.WeightPolicy.Resolve says what the others do).
func ResolveSnapshot(snap *agora.RewardSnapshot, neurons []chain.Neuron) ([]agora.ResolvedWeight, []string, error) {
	return snapshotPolicy(snap).Resolve(snap.Payouts, uidOf(neurons))
}
