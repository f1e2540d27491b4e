package chain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/agoranet/agora/hotkey"
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
