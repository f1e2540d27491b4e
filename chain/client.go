package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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

// Client is what Agora needs from a subtensor node. *RPCClient implements
// it over JSON-RPC; tests use it against chaintest's fake node.
type Client interface {
	// BlockNumber returns the number of the best block.
	BlockNumber(ctx context.Context) (uint64, error)
	// Metagraph returns the subnet's neurons in uid order.
	Metagraph(ctx context.Context, netuid uint16) ([]Neuron, error)
	// Hyperparams returns the subnet's weight-setting hyperparameters.
	Hyperparams(ctx context.Context, netuid uint16) (Hyperparams, error)
	// LastUpdate returns the block of uid's last weights update (0: never).
	LastUpdate(ctx context.Context, netuid uint16, uid uint16) (uint64, error)
	// SetWeights submits SubtensorModule.set_weights signed by s.
	SetWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, uids, vals []uint16, versionKey uint64) (TxHash, error)
	// CommitWeights submits SubtensorModule.commit_weights (commit-reveal
	// v2); hash normally comes from CommitHash.
	CommitWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, hash [32]byte) (TxHash, error)
	// RevealWeights submits SubtensorModule.reveal_weights with the values
	// an earlier CommitWeights hashed.
	RevealWeights(ctx context.Context, s *hotkey.Signer, netuid uint16, uids, vals, salt []uint16, versionKey uint64) (TxHash, error)
}

var _ Client = (*RPCClient)(nil)

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 20 // full metadata is a few MB hex; a large subnet's neurons a few more
	// DefaultMortalPeriod is the era length, in blocks, of submitted
	// transactions: polkadot-js's default, about 13 minutes of 12 s blocks.
	DefaultMortalPeriod = 64
)

// Options configure an RPCClient. The zero value is ready for subtensor.
type Options struct {
	// HTTPClient sends the requests; nil means a client of its own. Its
	// Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Timeout bounds each JSON-RPC request; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes caps each answer's size; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Extensions are the runtime's transaction extensions, in order; nil
	// means SubtensorExtensions(). UseMetadataExtensions replaces them
	// with the node's own list.
	Extensions []Extension
	// ExtraExtensions are encoders UseMetadataExtensions may use beyond
	// the built-in ones, matched by Name.
	ExtraExtensions []Extension
	// MortalPeriod is the validity window of submitted transactions in
	// blocks (rounded up to a power of two, 4 to 65536); 0 means
	// DefaultMortalPeriod. Immortal disables the window: such a
	// transaction stays valid until its nonce is used.
	MortalPeriod uint64
	Immortal     bool
	// Tip is paid to the block author with every transaction, in rao.
	Tip uint64
	// SkipPreflight turns off the hyperparameter checks SetWeights,
	// CommitWeights and RevealWeights make before submitting. Without
	// them a call the chain will reject at dispatch (set_weights while
	// commit-reveal is enabled, for instance) is still accepted into the
	// pool and its failure is visible only in the block's events.
	SkipPreflight bool
}

// RPCClient talks to a subtensor node over JSON-RPC (HTTP POST). It is safe
// for concurrent use; submissions from one client are serialized so that
// consecutive transactions of one signer get consecutive nonces.
type RPCClient struct {
	rpc  *rpcConn
	opts Options

	mu      sync.Mutex
	exts    []Extension
	genesis *[32]byte

	submitMu sync.Mutex
}

// New returns a client for the node at url (http:// or https://; the
// node's RPC port, 9944 by default, serves HTTP and WebSocket alike).
func New(url string, opts Options) (*RPCClient, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.MortalPeriod == 0 {
		opts.MortalPeriod = DefaultMortalPeriod
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	conn, err := newRPCConn(url, hc, opts.Timeout, opts.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	exts := opts.Extensions
	if exts == nil {
		exts = SubtensorExtensions()
	}
	return &RPCClient{rpc: conn, opts: opts, exts: slices.Clone(exts)}, nil
}

// Call makes a raw JSON-RPC call and unmarshals its result into result (if
// non-nil), for methods this client does not wrap.
func (c *RPCClient) Call(ctx context.Context, method string, result any, params ...any) error {
	raw, err := c.rpc.call(ctx, method, method, params...)
	if err != nil || result == nil {
		return err
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("chain: %s: decode result: %w", method, err)
	}
	return nil
}

// Extensions returns the transaction extensions the client signs with.
func (c *RPCClient) Extensions() []Extension {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.exts)
}

// SetExtensions replaces the transaction extensions the client signs with.
func (c *RPCClient) SetExtensions(exts []Extension) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exts = slices.Clone(exts)
}

// hexResult decodes a result that is a 0x-prefixed hex string. null is
// reported as ok=false.
func hexResult(label string, raw json.RawMessage) (b []byte, ok bool, err error) {
	if string(raw) == "null" {
		return nil, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false, fmt.Errorf("chain: %s: result is not a hex string: %s", label, snippet(raw))
	}
	h, found := strings.CutPrefix(s, "0x")
	if !found {
		return nil, false, fmt.Errorf("chain: %s: result %q lacks the 0x prefix", label, snippet([]byte(s)))
	}
	b, err = hex.DecodeString(h)
	if err != nil {
		return nil, false, fmt.Errorf("chain: %s: result is not hex: %v", label, err)
	}
	return b, true, nil
}

func hashResult(label string, raw json.RawMessage) ([32]byte, error) {
	b, ok, err := hexResult(label, raw)
	switch {
	case err != nil:
		return [32]byte{}, err
	case !ok:
		return [32]byte{}, agora.Errorf(agora.ENOTFOUND, "chain: %s: no such block", label)
	case len(b) != 32:
		return [32]byte{}, fmt.Errorf("chain: %s: hash of %d bytes, want 32", label, len(b))
	}
	return [32]byte(b), nil
}

func hexArg(b []byte) string { return "0x" + hex.EncodeToString(b) }

// BlockHash returns the hash of block n of the best chain.
func (c *RPCClient) BlockHash(ctx context.Context, n uint64) ([32]byte, error) {
	raw, err := c.rpc.call(ctx, "chain_getBlockHash", "chain_getBlockHash", n)
	if err != nil {
		return [32]byte{}, err
	}
	return hashResult(fmt.Sprintf("chain_getBlockHash %d", n), raw)
}

// Genesis returns the genesis hash, fetched once and then cached: it names
// the chain and never changes.
func (c *RPCClient) Genesis(ctx context.Context) ([32]byte, error) {
	c.mu.Lock()
	g := c.genesis
	c.mu.Unlock()
	if g != nil {
		return *g, nil
	}
	h, err := c.BlockHash(ctx, 0)
	if err != nil {
		return h, err
	}
	c.mu.Lock()
	c.genesis = &h
	c.mu.Unlock()
	return h, nil
}

type header struct {
	Number string `json:"number"` // hex, "0x1a2b"
}

// headerNumber calls chain_getHeader (at hash, or the best block when hash
// is nil) and returns the block number.
func (c *RPCClient) headerNumber(ctx context.Context, hash *[32]byte) (uint64, error) {
	var params []any
	if hash != nil {
		params = []any{hexArg(hash[:])}
	}
	raw, err := c.rpc.call(ctx, "chain_getHeader", "chain_getHeader", params...)
	if err != nil {
		return 0, err
	}
	if string(raw) == "null" {
		return 0, agora.Errorf(agora.ENOTFOUND, "chain: chain_getHeader: no such block")
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("chain: chain_getHeader: %v: %s", err, snippet(raw))
	}
	num, ok := strings.CutPrefix(h.Number, "0x")
	if !ok {
		return 0, fmt.Errorf("chain: chain_getHeader: block number %q is not 0x-hex", h.Number)
	}
	n, err := strconv.ParseUint(num, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("chain: chain_getHeader: block number %q: %v", h.Number, err)
	}
	return n, nil
}

// BlockNumber returns the number of the best block.
func (c *RPCClient) BlockNumber(ctx context.Context) (uint64, error) {
	return c.headerNumber(ctx, nil)
}

// FinalizedHead returns the number and hash of the last finalized block.
func (c *RPCClient) FinalizedHead(ctx context.Context) (uint64, [32]byte, error) {
	raw, err := c.rpc.call(ctx, "chain_getFinalizedHead", "chain_getFinalizedHead")
	if err != nil {
		return 0, [32]byte{}, err
	}
	h, err := hashResult("chain_getFinalizedHead", raw)
	if err != nil {
		return 0, h, err
	}
	n, err := c.headerNumber(ctx, &h)
	return n, h, err
}

// RuntimeVersion is the part of state_getRuntimeVersion a signer needs.
type RuntimeVersion struct {
	SpecName           string `json:"specName"`
	SpecVersion        uint32 `json:"specVersion"`
	TransactionVersion uint32 `json:"transactionVersion"`
}

// RuntimeVersion returns the node's current runtime version. It is not
// cached: a runtime upgrade changes it, and a stale value makes every
// signature fail.
func (c *RPCClient) RuntimeVersion(ctx context.Context) (RuntimeVersion, error) {
	var v RuntimeVersion
	raw, err := c.rpc.call(ctx, "state_getRuntimeVersion", "state_getRuntimeVersion")
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("chain: state_getRuntimeVersion: %v: %s", err, snippet(raw))
	}
	if v.SpecVersion == 0 {
		return v, fmt.Errorf("chain: state_getRuntimeVersion: no specVersion in %s", snippet(raw))
	}
	return v, nil
}

// AccountNonce returns the next nonce of an SS58 account, counting its
// transactions in the node's pool (system_accountNextIndex).
func (c *RPCClient) AccountNonce(ctx context.Context, address string) (uint64, error) {
	raw, err := c.rpc.call(ctx, "system_accountNextIndex", "system_accountNextIndex", address)
	if err != nil {
		return 0, err
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("chain: system_accountNextIndex: %v: %s", err, snippet(raw))
	}
	return n, nil
}

// StateCall calls a runtime API function with SCALE-encoded arguments and
// returns the SCALE-encoded result.
func (c *RPCClient) StateCall(ctx context.Context, fn string, args []byte) ([]byte, error) {
	label := "state_call " + fn
	raw, err := c.rpc.call(ctx, label, "state_call", fn, hexArg(args))
	if err != nil {
		return nil, err
	}
	b, ok, err := hexResult(label, raw)
	if err == nil && !ok {
		err = fmt.Errorf("chain: %s: null result", label)
	}
	return b, err
}

// Storage returns the raw value at a storage key; ok is false when nothing
// is stored there (the item then has its default value).
func (c *RPCClient) Storage(ctx context.Context, label string, key []byte) (value []byte, ok bool, err error) {
	label = "state_getStorage " + label
	raw, err := c.rpc.call(ctx, label, "state_getStorage", hexArg(key))
	if err != nil {
		return nil, false, err
	}
	return hexResult(label, raw)
}

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
