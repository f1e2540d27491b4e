package chain

import "golang.org/x/crypto/blake2b"

// SubtensorModuleIndex is the pallet index of SubtensorModule in the
// subtensor runtime.
const SubtensorModuleIndex = 7

// Call indices within SubtensorModule.
const (
	CallSetWeights    = 0
	CallCommitWeights = 96
	CallRevealWeights = 97
)

// NetuidIndex returns the storage index of a subnet mechanism,
// mecid*4096 + netuid. Plain (non-mechanism) calls use mecid 0, whose index
// is the netuid itself.
func NetuidIndex(netuid uint16, mecid uint8) uint16 {
	return uint16(mecid)*4096 + netuid
}

// SetWeightsCall returns the SCALE-encoded call
// SubtensorModule.set_weights(netuid, dests, weights, version_key), pallet
// and call index included. uids and vals are the output of ConvertWeights.
func SetWeightsCall(netuid uint16, uids, vals []uint16, versionKey uint64) []byte {
	b := make([]byte, 0, 2+2+2*(5+2*len(uids))+8)
	b = append(b, SubtensorModuleIndex, CallSetWeights)
	b = AppendU16(b, netuid)
	b = AppendU16Vec(b, uids)
	b = AppendU16Vec(b, vals)
	return AppendU64(b, versionKey)
}

// CommitWeightsCall returns the SCALE-encoded call
// SubtensorModule.commit_weights(netuid, commit_hash), where hash normally
// comes from CommitHash.
func CommitWeightsCall(netuid uint16, hash [32]byte) []byte {
	b := make([]byte, 0, 2+2+32)
	b = append(b, SubtensorModuleIndex, CallCommitWeights)
	b = AppendU16(b, netuid)
	return AppendFixed32(b, hash)
}

// RevealWeightsCall returns the SCALE-encoded call
// SubtensorModule.reveal_weights(netuid, uids, values, salt, version_key).
// The arguments must be the ones hashed by the earlier CommitHash.
func RevealWeightsCall(netuid uint16, uids, vals, salt []uint16, versionKey uint64) []byte {
	b := make([]byte, 0, 2+2+3*5+2*(len(uids)+len(vals)+len(salt))+8)
	b = append(b, SubtensorModuleIndex, CallRevealWeights)
	b = AppendU16(b, netuid)
	b = AppendU16Vec(b, uids)
	b = AppendU16Vec(b, vals)
	b = AppendU16Vec(b, salt)
	return AppendU64(b, versionKey)
}

// CommitHash returns the commit-reveal v2 hash the chain recomputes on
// reveal: blake2b-256 of SCALE(AccountId32 who, u16 netuid_index,
// Vec<u16> uids, Vec<u16> values, Vec<u16> salt, u64 version_key).
// who is the hotkey's public key; note that salt comes before version_key.
func CommitHash(who [32]byte, netuidIndex uint16, uids, vals, salt []uint16, versionKey uint64) [32]byte {
	b := make([]byte, 0, 32+2+3*5+2*(len(uids)+len(vals)+len(salt))+8)
	b = AppendFixed32(b, who)
	b = AppendU16(b, netuidIndex)
	b = AppendU16Vec(b, uids)
	b = AppendU16Vec(b, vals)
	b = AppendU16Vec(b, salt)
	b = AppendU64(b, versionKey)
	return blake2b.Sum256(b)
}
