package chain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// Neuron is one registered uid of a subnet, as the coordinator and
// validators need it.
type Neuron struct {
	UID             uint16
	Hotkey, Coldkey string // SS58, prefix 42
	HotkeyPub       [32]byte
	Active          bool
	ValidatorPermit bool
	Stake           uint64 // sum of the alpha staked to the hotkey on this subnet, in rao
	Emission        uint64
	LastUpdate      uint64 // block of the neuron's last weights update
}

// Hyperparams are the subnet hyperparameters that govern weight setting.
type Hyperparams struct {
	Tempo               uint16
	CommitRevealEnabled bool
	WeightsVersionKey   uint64 // set_weights needs version_key >= this, unless it is 0
	WeightsSetRateLimit uint64 // blocks between two weight updates of one uid
}

// Chain defaults of the hyperparameters, returned when the storage item
// was never written (ValueQuery). Read in opentensor/subtensor at 14bc6f9f
// (2026-06-30): pallets/subtensor/src/lib.rs DefaultTempo →
// InitialTempo = INITIAL_SUBNET_TEMPO = prod_or_fast!(360, 10) in
// runtime/src/lib.rs (a fast-blocks localnet build uses 10, which a client
// cannot tell from storage); DefaultCommitRevealWeightsEnabled = true;
// DefaultWeightsVersionKey → SubtensorInitialWeightsVersionKey = 0;
// DefaultWeightsSetRateLimit = 100; LastUpdate defaults to an empty vector.
const (
	DefaultTempo               = 360
	DefaultCommitRevealEnabled = true
	DefaultWeightsVersionKey   = 0
	DefaultWeightsSetRateLimit = 100
)

// netuidItem reads a SubtensorModule map item keyed by netuid and decodes
// it with dec, which must consume the value exactly. ok is false when the
// item is not stored.
func (c *RPCClient) netuidItem(ctx context.Context, item string, netuid uint16, dec func(*Decoder)) (ok bool, err error) {
	v, ok, err := c.Storage(ctx, fmt.Sprintf("SubtensorModule.%s(%d)", item, netuid), NetuidMapKey(item, netuid))
	if err != nil || !ok {
		return false, err
	}
	d := NewDecoder(v)
	dec(d)
	if err := d.Finish(); err != nil {
		return false, fmt.Errorf("chain: SubtensorModule.%s(%d) = 0x%x: %w", item, netuid, v, err)
	}
	return true, nil
}

// NeuronsLite returns the subnet's neurons as the runtime API
// NeuronInfoRuntimeApi_get_neurons_lite encodes them. A subnet that does
// not exist yields no neurons, as the runtime does.
func (c *RPCClient) NeuronsLite(ctx context.Context, netuid uint16) ([]NeuronInfoLite, error) {
	const fn = "NeuronInfoRuntimeApi_get_neurons_lite"
	b, err := c.StateCall(ctx, fn, AppendU16(nil, netuid))
	if err != nil {
		return nil, err
	}
	ns, err := DecodeNeuronInfoLiteVec(b)
	if err != nil {
		return nil, fmt.Errorf("chain: state_call %s(%d): %w", fn, netuid, err)
	}
	return ns, nil
}

// Metagraph returns the subnet's neurons.
func (c *RPCClient) Metagraph(ctx context.Context, netuid uint16) ([]Neuron, error) {
	ns, err := c.NeuronsLite(ctx, netuid)
	if err != nil {
		return nil, err
	}
	return NeuronsFromLite(ns), nil
}

// NeuronsFromLite converts runtime NeuronInfoLite records to Neurons,
// sorted by uid.
func NeuronsFromLite(ns []NeuronInfoLite) []Neuron {
	out := make([]Neuron, len(ns))
	for i := range ns {
		n := &ns[i]
		var stake uint64
		for _, s := range n.Stake {
			stake = satAdd(stake, s.Alpha)
		}
		out[i] = Neuron{
			UID:             n.UID,
			Hotkey:          hotkey.SS58Encode(n.Hotkey),
			Coldkey:         hotkey.SS58Encode(n.Coldkey),
			HotkeyPub:       n.Hotkey,
			Active:          n.Active,
			ValidatorPermit: n.ValidatorPermit,
			Stake:           stake,
			Emission:        n.Emission,
			LastUpdate:      n.LastUpdate,
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// Hyperparams reads the subnet's weight-setting hyperparameters from
// storage, using the chain defaults for items never written.
func (c *RPCClient) Hyperparams(ctx context.Context, netuid uint16) (Hyperparams, error) {
	hp := Hyperparams{
		Tempo:               DefaultTempo,
		CommitRevealEnabled: DefaultCommitRevealEnabled,
		WeightsVersionKey:   DefaultWeightsVersionKey,
		WeightsSetRateLimit: DefaultWeightsSetRateLimit,
	}
	reads := []struct {
		item string
		dec  func(*Decoder)
	}{
		{"Tempo", func(d *Decoder) { hp.Tempo = d.U16() }},
		{"CommitRevealWeightsEnabled", func(d *Decoder) { hp.CommitRevealEnabled = d.Bool() }},
		{"WeightsVersionKey", func(d *Decoder) { hp.WeightsVersionKey = d.U64() }},
		{"WeightsSetRateLimit", func(d *Decoder) { hp.WeightsSetRateLimit = d.U64() }},
	}
	for _, r := range reads {
		if _, err := c.netuidItem(ctx, r.item, netuid, r.dec); err != nil {
			return Hyperparams{}, err
		}
	}
	return hp, nil
}

// commitRevealEnabled reads CommitRevealWeightsEnabled alone.
func (c *RPCClient) commitRevealEnabled(ctx context.Context, netuid uint16) (bool, error) {
	on := DefaultCommitRevealEnabled
	_, err := c.netuidItem(ctx, "CommitRevealWeightsEnabled", netuid, func(d *Decoder) { on = d.Bool() })
	return on, err
}

// LastUpdate returns the block of uid's last weights update on the subnet
// (its main mechanism). Like the pallet's get_last_update_for_uid it is 0
// for a uid past the end of the stored vector.
func (c *RPCClient) LastUpdate(ctx context.Context, netuid uint16, uid uint16) (uint64, error) {
	var v []uint64
	if _, err := c.netuidItem(ctx, "LastUpdate", NetuidIndex(netuid, 0), func(d *Decoder) { v = d.U64Vec() }); err != nil {
		return 0, err
	}
	if int(uid) < len(v) {
		return v[uid], nil
	}
	return 0, nil
}

// ResolveUIDs maps each SS58 hotkey to its uid in neurons. Every hotkey
// must be registered: the error (ENOTFOUND) names all that are not.
func ResolveUIDs(neurons []Neuron, hotkeys []string) (map[string]uint16, error) {
	byKey := make(map[string]uint16, len(neurons))
	for _, n := range neurons {
		byKey[n.Hotkey] = n.UID
	}
	out := make(map[string]uint16, len(hotkeys))
	var missing []string
	for _, h := range hotkeys {
		uid, ok := byKey[h]
		if !ok {
			missing = append(missing, h)
			continue
		}
		out[h] = uid
	}
	if missing != nil {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return nil, agora.Errorf(agora.ENOTFOUND, "hotkey(s) not registered on the subnet: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Permitted returns the SS58 hotkeys of neurons holding a validator permit,
// in the order of neurons.
func Permitted(neurons []Neuron) []string {
	var out []string
	for _, n := range neurons {
		if n.ValidatorPermit {
			out = append(out, n.Hotkey)
		}
	}
	return out
}
