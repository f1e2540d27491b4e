package chain

import (
	"fmt"
	"net/netip"
)

// AxonInfo is subtensor's AxonInfo, field for field.
type AxonInfo struct {
	Block        uint64
	Version      uint32
	IP           Uint128
	Port         uint16
	IPType       uint8 // 4 or 6
	Protocol     uint8
	Placeholder1 uint8
	Placeholder2 uint8
}

// Addr returns the axon's IP address: the low 32 bits of IP for IPType 4,
// all 128 bits (big-endian order, as the SDK's int→ip conversion does) for
// IPType 6, and the zero Addr otherwise.
func (a AxonInfo) Addr() netip.Addr { return ipFromU128(a.IP, a.IPType) }

// PrometheusInfo is subtensor's PrometheusInfo, field for field.
type PrometheusInfo struct {
	Block   uint64
	Version uint32
	IP      Uint128
	Port    uint16
	IPType  uint8
}

func ipFromU128(ip Uint128, typ uint8) netip.Addr {
	switch typ {
	case 4:
		v := uint32(ip.Lo)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	case 6:
		var b [16]byte
		for i := range 8 {
			b[i] = byte(ip.Hi >> (56 - 8*i))
			b[8+i] = byte(ip.Lo >> (56 - 8*i))
		}
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// StakeEntry is one (coldkey, alpha) pair of NeuronInfoLite.stake.
type StakeEntry struct {
	Coldkey [32]byte
	Alpha   uint64 // Compact<AlphaBalance>, in rao of the subnet's alpha
}

// NeuronInfoLite is subtensor's NeuronInfoLite (pallets/subtensor/src/
// rpc_info/neuron_info.rs), the element type of what the runtime API
// NeuronInfoRuntimeApi_get_neurons_lite returns. Field order is the SCALE
// order.
type NeuronInfoLite struct {
	Hotkey, Coldkey [32]byte
	UID             uint16 // Compact<u16>
	Netuid          uint16 // Compact<NetUid>
	Active          bool
	Axon            AxonInfo
	Prometheus      PrometheusInfo
	Stake           []StakeEntry
	Rank            uint16 // Compact<u16>, as are the u16 fields below
	Emission        uint64 // Compact<AlphaBalance>
	Incentive       uint16
	Consensus       uint16
	Trust           uint16
	ValidatorTrust  uint16
	Dividends       uint16
	LastUpdate      uint64 // Compact<u64>
	ValidatorPermit bool
	PruningScore    uint16
}

// Minimum encoded sizes, used to bound vector lengths before allocating.
const (
	axonInfoSize       = 8 + 4 + 16 + 2 + 1 + 1 + 1 + 1
	prometheusInfoSize = 8 + 4 + 16 + 2 + 1
	// minNeuronInfoLiteSize: two accounts, two one-byte compacts, a bool,
	// the two fixed structs, an empty stake vector, eight one-byte
	// compacts (rank … last_update), a bool and a one-byte compact.
	minNeuronInfoLiteSize = 32 + 32 + 1 + 1 + 1 + axonInfoSize + prometheusInfoSize + 1 + 8 + 1 + 1
	minStakeEntrySize     = 32 + 1
)

// DecodeNeuronInfoLiteVec decodes the SCALE Vec<NeuronInfoLite> that
// NeuronInfoRuntimeApi_get_neurons_lite returns. Truncated, oversized or
// otherwise hostile input yields an error naming the neuron it broke in;
// it never panics and never allocates more than the input could describe.
// Trailing bytes are an error: they mean the runtime's layout is not the
// one this decoder knows.
func DecodeNeuronInfoLiteVec(b []byte) ([]NeuronInfoLite, error) {
	d := NewDecoder(b)
	n := d.VecLen(minNeuronInfoLiteSize)
	if d.Err() != nil {
		return nil, fmt.Errorf("decode Vec<NeuronInfoLite>: %w", d.Err())
	}
	out := make([]NeuronInfoLite, n)
	for i := range out {
		out[i] = decodeNeuronInfoLite(d)
		if d.Err() != nil {
			return nil, fmt.Errorf("decode Vec<NeuronInfoLite>: neuron %d of %d: %w", i, n, d.Err())
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decode Vec<NeuronInfoLite> of %d neurons: %w", n, err)
	}
	return out, nil
}

func decodeNeuronInfoLite(d *Decoder) NeuronInfoLite {
	var n NeuronInfoLite
	n.Hotkey = d.Fixed32()
	n.Coldkey = d.Fixed32()
	n.UID = d.CompactU16()
	n.Netuid = d.CompactU16()
	n.Active = d.Bool()
	n.Axon = AxonInfo{
		Block: d.U64(), Version: d.U32(), IP: d.U128(), Port: d.U16(),
		IPType: d.U8(), Protocol: d.U8(), Placeholder1: d.U8(), Placeholder2: d.U8(),
	}
	n.Prometheus = PrometheusInfo{Block: d.U64(), Version: d.U32(), IP: d.U128(), Port: d.U16(), IPType: d.U8()}
	if k := d.VecLen(minStakeEntrySize); k > 0 {
		n.Stake = make([]StakeEntry, k)
		for j := range n.Stake {
			n.Stake[j] = StakeEntry{Coldkey: d.Fixed32(), Alpha: d.Compact()}
		}
	}
	n.Rank = d.CompactU16()
	n.Emission = d.Compact()
	n.Incentive = d.CompactU16()
	n.Consensus = d.CompactU16()
	n.Trust = d.CompactU16()
	n.ValidatorTrust = d.CompactU16()
	n.Dividends = d.CompactU16()
	n.LastUpdate = d.Compact()
	n.ValidatorPermit = d.Bool()
	n.PruningScore = d.CompactU16()
	return n
}
