package chain

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Twox128 is Substrate's twox_128 hasher: xxHash64 of data with seed 0 and
// then with seed 1, each written little endian, concatenated. Storage
// prefixes are twox128(pallet name) ‖ twox128(storage item name).
func Twox128(data []byte) [16]byte {
	var out [16]byte
	for seed := range uint64(2) {
		d := xxhash.NewWithSeed(seed)
		d.Write(data) // never fails
		binary.LittleEndian.PutUint64(out[8*seed:], d.Sum64())
	}
	return out
}

// StoragePrefix returns twox128(pallet) ‖ twox128(item), the key of a
// StorageValue and the prefix of every key of a StorageMap.
func StoragePrefix(pallet, item string) []byte {
	p, i := Twox128([]byte(pallet)), Twox128([]byte(item))
	return append(p[:], i[:]...)
}

// SubtensorModule is the pallet name of the subtensor pallet in the runtime
// (construct_runtime! `SubtensorModule: pallet_subtensor = 7`); storage keys
// are derived from this name, not from the index.
const SubtensorModule = "SubtensorModule"

// NetuidMapKey returns the storage key of item in a SubtensorModule map
// keyed by a u16 netuid (or netuid index) with the Identity hasher, which
// is how Tempo, CommitRevealWeightsEnabled, WeightsVersionKey,
// WeightsSetRateLimit and LastUpdate are declared: the key is the prefix
// followed by the SCALE u16 itself.
func NetuidMapKey(item string, netuid uint16) []byte {
	return AppendU16(StoragePrefix(SubtensorModule, item), netuid)
}
