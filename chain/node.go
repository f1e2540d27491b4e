package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
)

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
