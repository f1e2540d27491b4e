// Package chaintest is a fake subtensor node for tests: an httptest server
// answering the JSON-RPC methods chain.RPCClient uses, from state the test
// sets up in Go. It checks submitted extrinsics the way a node's pool
// would (format, signature over its own genesis and runtime versions,
// nonce) and records the decoded calls, so a test can assert which call
// arrived with which arguments. Faults (node down, HTTP 500, an RPC error
// for one method) can be injected.
//
// It is not a chain: there are no blocks unless the test advances the
// number, accepted transactions are "included" at once, and only the
// SubtensorModule weights calls are understood.
package chaintest

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/hotkey"
)

// Defaults of a new Node: subtensor's runtime version at the time of
// writing, and a block number far enough from 0 that eras are exercised.
const (
	DefaultSpecVersion = 425
	DefaultTxVersion   = 1
	DefaultBlock       = 1000
)

// blockHashCount is frame_system's BlockHashCount in subtensor: how many
// recent block hashes the runtime keeps, bounding how old a mortal era's
// birth block may be.
const blockHashCount = 4096

// Node is a fake subtensor node. Create it with New; all methods are safe
// for concurrent use with the server.
type Node struct {
	srv *httptest.Server

	mu          sync.Mutex
	genesis     [32]byte
	best        uint64
	finalityLag uint64
	spec, txv   uint32
	neurons     map[uint16][]chain.NeuronInfoLite
	stateCalls  map[string][]byte
	storage     map[string][]byte
	nonces      map[[32]byte]uint64
	commits     []commit
	pool        map[chain.TxHash]bool // future transactions waiting
	extrinsics  []Extrinsic
	metadata    []byte
	calls       map[string]int

	down       bool
	httpStatus int
	rpcFail    map[string]*rpcErr
}

type commit struct {
	who    [32]byte
	netuid uint16
	hash   [32]byte
	block  uint64
}

// rpcErr is a JSON-RPC error object.
type rpcErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// New starts a fake node and stops it when the test ends.
func New(tb testing.TB) *Node {
	n := &Node{
		genesis:    blake2b.Sum256([]byte("chaintest genesis")),
		best:       DefaultBlock,
		spec:       DefaultSpecVersion,
		txv:        DefaultTxVersion,
		neurons:    map[uint16][]chain.NeuronInfoLite{},
		stateCalls: map[string][]byte{},
		storage:    map[string][]byte{},
		nonces:     map[[32]byte]uint64{},
		pool:       map[chain.TxHash]bool{},
		calls:      map[string]int{},
		rpcFail:    map[string]*rpcErr{},
	}
	n.srv = httptest.NewServer(n)
	tb.Cleanup(n.srv.Close)
	return n
}

// URL is the node's RPC endpoint.
func (n *Node) URL() string { return n.srv.URL }

// Close shuts the server down; afterwards connections are refused, as for
// a node that is not running.
func (n *Node) Close() { n.srv.Close() }

// SetDown makes the node drop every connection without answering (true)
// or serve again (false).
func (n *Node) SetDown(down bool) { n.with(func() { n.down = down }) }

// FailHTTP makes every request fail with the HTTP status (0 to stop).
func (n *Node) FailHTTP(status int) { n.with(func() { n.httpStatus = status }) }

// FailMethod makes calls of method fail with a JSON-RPC error; data may be
// nil. ClearFailures undoes it.
func (n *Node) FailMethod(method string, code int, message string, data any) {
	n.with(func() { n.rpcFail[method] = &rpcErr{Code: code, Message: message, Data: data} })
}

// ClearFailures removes every injected fault.
func (n *Node) ClearFailures() {
	n.with(func() {
		n.down, n.httpStatus = false, 0
		clear(n.rpcFail)
	})
}

// Calls returns how many times method was called.
func (n *Node) Calls(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

func (n *Node) with(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

// Genesis returns the genesis hash.
func (n *Node) Genesis() [32]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.genesis
}

// SetGenesis sets the genesis hash, i.e. which chain the node is on.
func (n *Node) SetGenesis(h [32]byte) { n.with(func() { n.genesis = h }) }

// Block returns the best block number.
func (n *Node) Block() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.best
}

// SetBlock sets the best block number.
func (n *Node) SetBlock(b uint64) { n.with(func() { n.best = b }) }

// Advance moves the best block k blocks on and returns the new number.
func (n *Node) Advance(k uint64) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.best += k
	return n.best
}

// SetFinalityLag makes the finalized head trail the best block by lag.
func (n *Node) SetFinalityLag(lag uint64) { n.with(func() { n.finalityLag = lag }) }

// BlockHash returns the hash of block num: the genesis hash for 0, a
// deterministic made-up hash otherwise. The number is readable from the
// hash's last eight bytes, which is how the node finds a header by hash.
func (n *Node) BlockHash(num uint64) [32]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blockHash(num)
}

func (n *Node) blockHash(num uint64) [32]byte {
	if num == 0 {
		return n.genesis
	}
	var in [40]byte
	copy(in[:], n.genesis[:])
	binary.LittleEndian.PutUint64(in[32:], num)
	h := blake2b.Sum256(in[:])
	binary.BigEndian.PutUint64(h[24:], num)
	return h
}

// blockNumber finds the number of a block hash on the best chain.
func (n *Node) blockNumber(h [32]byte) (uint64, bool) {
	if h == n.genesis {
		return 0, true
	}
	num := binary.BigEndian.Uint64(h[24:])
	return num, num <= n.best && n.blockHash(num) == h
}

// SetRuntimeVersion sets spec_version and transaction_version.
func (n *Node) SetRuntimeVersion(spec, txv uint32) { n.with(func() { n.spec, n.txv = spec, txv }) }

// SetNeurons sets what NeuronInfoRuntimeApi_get_neurons_lite returns for
// netuid; the node SCALE-encodes them itself.
func (n *Node) SetNeurons(netuid uint16, ns []chain.NeuronInfoLite) {
	n.with(func() { n.neurons[netuid] = slices.Clone(ns) })
}

// SetStateCall makes state_call(fn, args) return result verbatim,
// overriding the built-in runtime API (to serve malformed SCALE, say).
func (n *Node) SetStateCall(fn string, args, result []byte) {
	n.with(func() { n.stateCalls[fn+"|"+hex.EncodeToString(args)] = slices.Clone(result) })
}

// SetStorage stores value at key; a nil value removes it.
func (n *Node) SetStorage(key, value []byte) {
	n.with(func() {
		if value == nil {
			delete(n.storage, string(key))
			return
		}
		n.storage[string(key)] = slices.Clone(value)
	})
}

// Storage returns the value at key, or nil.
func (n *Node) Storage(key []byte) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.storage[string(key)])
}

// SetHyperparams stores all four weight hyperparameters of netuid.
func (n *Node) SetHyperparams(netuid uint16, hp chain.Hyperparams) {
	n.SetStorage(chain.NetuidMapKey("Tempo", netuid), chain.AppendU16(nil, hp.Tempo))
	n.SetCommitReveal(netuid, hp.CommitRevealEnabled)
	n.SetStorage(chain.NetuidMapKey("WeightsVersionKey", netuid), chain.AppendU64(nil, hp.WeightsVersionKey))
	n.SetStorage(chain.NetuidMapKey("WeightsSetRateLimit", netuid), chain.AppendU64(nil, hp.WeightsSetRateLimit))
}

// SetCommitReveal stores CommitRevealWeightsEnabled for netuid.
func (n *Node) SetCommitReveal(netuid uint16, on bool) {
	n.SetStorage(chain.NetuidMapKey("CommitRevealWeightsEnabled", netuid), chain.AppendBool(nil, on))
}

// SetLastUpdate stores the LastUpdate vector of a netuid index.
func (n *Node) SetLastUpdate(netuidIndex uint16, v []uint64) {
	b := chain.AppendCompact(nil, uint64(len(v)))
	for _, x := range v {
		b = chain.AppendU64(b, x)
	}
	n.SetStorage(chain.NetuidMapKey("LastUpdate", netuidIndex), b)
}

// SetNonce sets an account's next nonce.
func (n *Node) SetNonce(pub [32]byte, nonce uint64) { n.with(func() { n.nonces[pub] = nonce }) }

// Nonce returns an account's next nonce.
func (n *Node) Nonce(pub [32]byte) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nonces[pub]
}

// SetMetadata sets what state_getMetadata returns (SCALE, magic included).
func (n *Node) SetMetadata(b []byte) { n.with(func() { n.metadata = slices.Clone(b) }) }

// Extrinsics returns the transactions accepted so far, oldest first.
func (n *Node) Extrinsics() []Extrinsic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.extrinsics)
}

// maxRequest bounds request bodies; an extrinsic is a few KB.
const maxRequest = 1 << 20

type request struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// ServeHTTP answers one JSON-RPC request.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	down, status := n.down, n.httpStatus
	n.mu.Unlock()
	if down {
		// Drop the connection unanswered, as a crashed node would.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		// The fake node's injected fault, not input: net/http's way to
		// drop a connection it cannot hijack (the server recovers it).
		panic(http.ErrAbortHandler)
	}
	if status != 0 {
		http.Error(w, "chaintest: injected failure", status)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST JSON-RPC only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest))
	if err != nil {
		return
	}
	var req request
	var result any
	var rerr *rpcErr
	if err := json.Unmarshal(body, &req); err != nil {
		rerr = &rpcErr{Code: -32700, Message: "Parse error"}
	} else {
		result, rerr = n.handle(req.Method, req.Params)
	}
	resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if rerr != nil {
		resp["error"] = rerr
	} else {
		resp["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func hexStr(b []byte) string { return "0x" + hex.EncodeToString(b) }

func invalidParams(format string, args ...any) *rpcErr {
	return &rpcErr{Code: -32602, Message: "Invalid params", Data: fmt.Sprintf(format, args...)}
}

// paramHex decodes params[i] as a 0x-hex string.
func paramHex(params []json.RawMessage, i int) ([]byte, *rpcErr) {
	if i >= len(params) {
		return nil, invalidParams("missing parameter %d", i)
	}
	var s string
	if err := json.Unmarshal(params[i], &s); err != nil {
		return nil, invalidParams("parameter %d is not a string", i)
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, invalidParams("parameter %d lacks 0x", i)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, invalidParams("parameter %d is not hex", i)
	}
	return b, nil
}

// absent reports whether params[i] is missing or null (meaning "best block").
func absent(params []json.RawMessage, i int) bool {
	return i >= len(params) || string(params[i]) == "null"
}

func (n *Node) header(num uint64) map[string]any {
	parent := [32]byte{}
	if num > 0 {
		parent = n.blockHash(num - 1)
	}
	return map[string]any{
		"parentHash":     hexStr(parent[:]),
		"number":         "0x" + strconv.FormatUint(num, 16),
		"stateRoot":      hexStr(make([]byte, 32)),
		"extrinsicsRoot": hexStr(make([]byte, 32)),
		"digest":         map[string]any{"logs": []string{}},
	}
}

func (n *Node) handle(method string, params []json.RawMessage) (any, *rpcErr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls[method]++
	if e := n.rpcFail[method]; e != nil {
		return nil, e
	}
	switch method {
	case "chain_getBlockHash":
		num := n.best
		if !absent(params, 0) {
			if err := json.Unmarshal(params[0], &num); err != nil {
				return nil, invalidParams("block number: %v", err)
			}
		}
		if num > n.best {
			return nil, nil
		}
		h := n.blockHash(num)
		return hexStr(h[:]), nil

	case "chain_getHeader":
		num := n.best
		if !absent(params, 0) {
			b, e := paramHex(params, 0)
			if e != nil {
				return nil, e
			}
			var ok bool
			if len(b) == 32 {
				num, ok = n.blockNumber([32]byte(b))
			}
			if !ok {
				return nil, nil
			}
		}
		return n.header(num), nil

	case "chain_getFinalizedHead":
		h := n.blockHash(n.best - min(n.finalityLag, n.best))
		return hexStr(h[:]), nil

	case "state_getRuntimeVersion":
		return map[string]any{
			"specName": "node-subtensor", "implName": "node-subtensor",
			"authoringVersion": 1, "specVersion": n.spec, "implVersion": 1,
			"apis": [][]any{}, "transactionVersion": n.txv, "stateVersion": 1,
		}, nil

	case "system_accountNextIndex":
		var addr string
		if len(params) < 1 || json.Unmarshal(params[0], &addr) != nil {
			return nil, invalidParams("want an SS58 address")
		}
		pub, err := hotkey.SS58Decode(addr)
		if err != nil {
			return nil, invalidParams("%v", err)
		}
		return n.nonces[pub], nil

	case "state_call":
		var fn string
		if len(params) < 2 || json.Unmarshal(params[0], &fn) != nil {
			return nil, invalidParams("want [method, data]")
		}
		args, e := paramHex(params, 1)
		if e != nil {
			return nil, e
		}
		if b, ok := n.stateCalls[fn+"|"+hex.EncodeToString(args)]; ok {
			return hexStr(b), nil
		}
		if fn == "NeuronInfoRuntimeApi_get_neurons_lite" {
			if len(args) != 2 {
				return nil, &rpcErr{Code: 4003, Message: "Client error: Execution failed: Could not decode `NetUid`"}
			}
			return hexStr(EncodeNeuronInfoLiteVec(n.neurons[binary.LittleEndian.Uint16(args)])), nil
		}
		return nil, &rpcErr{Code: 4003, Message: fmt.Sprintf("Client error: Execution failed: Other: Exported method %s is not found", fn)}

	case "state_getStorage":
		key, e := paramHex(params, 0)
		if e != nil {
			return nil, e
		}
		if v, ok := n.storage[string(key)]; ok {
			return hexStr(v), nil
		}
		return nil, nil

	case "state_getMetadata":
		if n.metadata == nil {
			return nil, &rpcErr{Code: -32603, Message: "chaintest: no metadata set (SetMetadata)"}
		}
		return hexStr(n.metadata), nil

	case "author_submitExtrinsic":
		raw, e := paramHex(params, 0)
		if e != nil {
			return nil, e
		}
		h, e := n.submit(raw)
		if e != nil {
			return nil, e
		}
		return hexStr(h[:]), nil
	}
	return nil, &rpcErr{Code: -32601, Message: "Method not found"}
}

// submit validates an extrinsic as the pool would and, if it is valid,
// records and "includes" it. n.mu is held.
func (n *Node) submit(raw []byte) (chain.TxHash, *rpcErr) {
	hash := chain.ExtrinsicHash(raw)
	if n.pool[hash] {
		return hash, &rpcErr{Code: chain.CodeAlreadyImported, Message: "Transaction Already Imported", Data: hexStr(hash[:])}
	}
	p, err := parseExtrinsic(raw)
	var es errSigner
	switch {
	case errors.As(err, &es):
		return hash, invalidTx(dataBadSigner)
	case err != nil:
		return hash, badFormat(err)
	}

	// CheckMortality's implicit: the hash of the era's birth block as
	// this node computes it from its best block. A transaction signed
	// against another block (or expired, so that the birth moved on)
	// fails the signature check, as on a real node.
	eraBlock := n.genesis
	if !p.era.IsImmortal() {
		birth := p.era.Birth(n.best)
		if n.best-birth >= blockHashCount {
			return hash, invalidTx(dataAncientBirth)
		}
		eraBlock = n.blockHash(birth)
	}
	if !p.verify(p.signingPayload(n.spec, n.txv, n.genesis, eraBlock, nil)) {
		return hash, invalidTx(dataBadProof)
	}
	next := n.nonces[p.signer]
	if p.nonce < next {
		return hash, invalidTx(dataStale)
	}
	if e := n.validateWeights(p); e != nil {
		return hash, e
	}
	x := p.record(raw)
	if p.nonce > next {
		x.Future = true
		n.pool[hash] = true
		n.extrinsics = append(n.extrinsics, x)
		return hash, nil
	}
	n.nonces[p.signer] = next + 1
	x.DispatchError = n.dispatch(p)
	n.extrinsics = append(n.extrinsics, x)
	return hash, nil
}

// validateWeights is the part of SubtensorTransactionExtension's validation
// the fake models: the weights rate limit (set_weights while commit-reveal
// is off, commit_weights) and that a reveal matches a commit.
func (n *Node) validateWeights(p *parsed) *rpcErr {
	a := &p.args
	switch p.name {
	case "set_weights", "commit_weights":
		if p.name == "set_weights" && n.commitReveal(a.Netuid) {
			return nil
		}
		uid, ok := n.uidOf(a.Netuid, p.signer)
		if !ok {
			return nil
		}
		last := n.lastUpdate(a.Netuid)
		if int(uid) < len(last) && last[uid] != 0 && n.best-last[uid] < n.u64Item("WeightsSetRateLimit", a.Netuid, chain.DefaultWeightsSetRateLimit) {
			return invalidTx(dataRateLimit)
		}
	case "reveal_weights":
		want := chain.CommitHash(p.signer, a.Netuid, a.UIDs, a.Values, a.Salt, a.VersionKey)
		if !slices.ContainsFunc(n.commits, func(c commit) bool { return c.who == p.signer && c.netuid == a.Netuid && c.hash == want }) {
			return invalidTx(dataCommitNotFound)
		}
	}
	return nil
}

// dispatch applies an accepted call and returns the pallet error it fails
// with, "" on success. The checks are a subset of the pallet's, in its
// order.
func (n *Node) dispatch(p *parsed) string {
	a := &p.args
	uid, registered := n.uidOf(a.Netuid, p.signer)
	switch p.name {
	case "set_weights":
		switch {
		case n.commitReveal(a.Netuid):
			return "CommitRevealEnabled"
		case len(a.UIDs) != len(a.Values):
			return "WeightVecNotEqualSize"
		case !registered:
			return "HotKeyNotRegisteredInSubNet"
		}
		if vk := n.u64Item("WeightsVersionKey", a.Netuid, chain.DefaultWeightsVersionKey); vk != 0 && a.VersionKey < vk {
			return "IncorrectWeightVersionKey"
		}
		n.setLastUpdate(a.Netuid, uid)
	case "commit_weights":
		switch {
		case !n.commitReveal(a.Netuid):
			return "CommitRevealDisabled"
		case !registered:
			return "HotKeyNotRegisteredInSubNet"
		}
		n.commits = append(n.commits, commit{who: p.signer, netuid: a.Netuid, hash: a.CommitHash, block: n.best})
		n.setLastUpdate(a.Netuid, uid)
	case "reveal_weights":
		if !n.commitReveal(a.Netuid) {
			return "CommitRevealDisabled"
		}
		want := chain.CommitHash(p.signer, a.Netuid, a.UIDs, a.Values, a.Salt, a.VersionKey)
		n.commits = slices.DeleteFunc(n.commits, func(c commit) bool {
			return c.who == p.signer && c.netuid == a.Netuid && c.hash == want
		})
	}
	return ""
}

func (n *Node) uidOf(netuid uint16, pub [32]byte) (uint16, bool) {
	for _, x := range n.neurons[netuid] {
		if x.Hotkey == pub {
			return x.UID, true
		}
	}
	return 0, false
}

func (n *Node) commitReveal(netuid uint16) bool {
	v, ok := n.storage[string(chain.NetuidMapKey("CommitRevealWeightsEnabled", netuid))]
	if !ok || len(v) != 1 {
		return chain.DefaultCommitRevealEnabled
	}
	return v[0] == 1
}

func (n *Node) u64Item(item string, netuid uint16, def uint64) uint64 {
	v, ok := n.storage[string(chain.NetuidMapKey(item, netuid))]
	if !ok || len(v) != 8 {
		return def
	}
	return binary.LittleEndian.Uint64(v)
}

func (n *Node) lastUpdate(netuid uint16) []uint64 {
	v := n.storage[string(chain.NetuidMapKey("LastUpdate", netuid))]
	if v == nil {
		return nil
	}
	d := chain.NewDecoder(v)
	out := d.U64Vec()
	if d.Finish() != nil {
		return nil
	}
	return out
}

// setLastUpdate records the current block as uid's last update, growing
// the vector as the pallet does when a uid registers.
func (n *Node) setLastUpdate(netuid, uid uint16) {
	v := n.lastUpdate(netuid)
	for len(v) <= int(uid) {
		v = append(v, 0)
	}
	v[uid] = n.best
	b := chain.AppendCompact(nil, uint64(len(v)))
	for _, x := range v {
		b = chain.AppendU64(b, x)
	}
	n.storage[string(chain.NetuidMapKey("LastUpdate", netuid))] = b
}
