package chaintest

import "github.com/agoranet/agora/chain"

// EncodeNeuronInfoLiteVec returns the SCALE Vec<NeuronInfoLite> the runtime
// API NeuronInfoRuntimeApi_get_neurons_lite would return for ns. It is
// written out field by field here, apart from chain's decoder, so that a
// layout mistake on one side shows up as a test failure instead of
// cancelling out.
func EncodeNeuronInfoLiteVec(ns []chain.NeuronInfoLite) []byte {
	b := chain.AppendCompact(nil, uint64(len(ns)))
	for i := range ns {
		b = appendNeuronInfoLite(b, &ns[i])
	}
	return b
}

func appendNeuronInfoLite(b []byte, n *chain.NeuronInfoLite) []byte {
	b = append(b, n.Hotkey[:]...)
	b = append(b, n.Coldkey[:]...)
	b = chain.AppendCompact(b, uint64(n.UID))
	b = chain.AppendCompact(b, uint64(n.Netuid))
	b = chain.AppendBool(b, n.Active)
	// AxonInfo: u64 block, u32 version, u128 ip, u16 port, u8 ip_type,
	// u8 protocol, u8 placeholder1, u8 placeholder2.
	a := &n.Axon
	b = chain.AppendU64(b, a.Block)
	b = chain.AppendU32(b, a.Version)
	b = chain.AppendU128(b, a.IP)
	b = chain.AppendU16(b, a.Port)
	b = append(b, a.IPType, a.Protocol, a.Placeholder1, a.Placeholder2)
	// PrometheusInfo: u64 block, u32 version, u128 ip, u16 port, u8 ip_type.
	p := &n.Prometheus
	b = chain.AppendU64(b, p.Block)
	b = chain.AppendU32(b, p.Version)
	b = chain.AppendU128(b, p.IP)
	b = chain.AppendU16(b, p.Port)
	b = append(b, p.IPType)
	// stake: Vec<(AccountId32, Compact<AlphaBalance>)>.
	b = chain.AppendCompact(b, uint64(len(n.Stake)))
	for _, s := range n.Stake {
		b = append(b, s.Coldkey[:]...)
		b = chain.AppendCompact(b, s.Alpha)
	}
	// rank, emission, incentive, consensus, trust, validator_trust,
	// dividends, last_update: all compact.
	for _, v := range []uint64{uint64(n.Rank), n.Emission, uint64(n.Incentive), uint64(n.Consensus),
		uint64(n.Trust), uint64(n.ValidatorTrust), uint64(n.Dividends), n.LastUpdate} {
		b = chain.AppendCompact(b, v)
	}
	b = chain.AppendBool(b, n.ValidatorPermit)
	return chain.AppendCompact(b, uint64(n.PruningScore))
}
