package chain_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/hotkey"
)

func signer(tb testing.TB, uri string) *hotkey.Signer {
	tb.Helper()
	s, err := hotkey.FromURI(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// subnet sets up netuid 1 with four neurons: Alice (uid 0, permit),
// Bob (uid 3), Charlie (uid 7, permit) and Dave (uid 9).
func subnet(t *testing.T) (*chaintest.Node, *chain.RPCClient, map[string]*hotkey.Signer) {
	t.Helper()
	node := chaintest.New(t)
	keys := map[string]*hotkey.Signer{}
	var ns []chain.NeuronInfoLite
	rng := rand.New(rand.NewPCG(11, 12))
	for i, who := range []struct {
		name   string
		uid    uint16
		permit bool
	}{{"Alice", 0, true}, {"Bob", 3, false}, {"Charlie", 7, true}, {"Dave", 9, false}} {
		s := signer(t, "//"+who.name)
		keys[who.name] = s
		n := randNeuron(rng, who.uid)
		n.Hotkey, n.Netuid, n.ValidatorPermit, n.Active = s.PublicKey(), 1, who.permit, true
		n.Stake = []chain.StakeEntry{{Coldkey: randKey(rng), Alpha: 1_000_000_000 * uint64(i+1)}, {Coldkey: randKey(rng), Alpha: 5}}
		ns = append(ns, n)
	}
	// The runtime returns neurons in uid order; shuffle to check the
	// client sorts rather than trusts.
	ns[0], ns[3] = ns[3], ns[0]
	node.SetNeurons(1, ns)
	c, err := chain.New(node.URL(), chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return node, c, keys
}

func TestMetagraphResolvePermits(t *testing.T) {
	_, c, keys := subnet(t)
	ctx := context.Background()
	ns, err := c.Metagraph(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 4 {
		t.Fatalf("%d neurons", len(ns))
	}
	wantUIDs := []uint16{0, 3, 7, 9}
	for i, n := range ns {
		if n.UID != wantUIDs[i] {
			t.Errorf("neuron %d has uid %d, want %d (sorted)", i, n.UID, wantUIDs[i])
		}
	}
	alice := ns[0]
	if alice.Hotkey != keys["Alice"].Address() || alice.HotkeyPub != keys["Alice"].PublicKey() ||
		!alice.ValidatorPermit || !alice.Active || alice.Stake != 1_000_000_005 {
		t.Errorf("alice %+v", alice)
	}
	if _, err := hotkey.SS58Decode(alice.Coldkey); err != nil {
		t.Errorf("coldkey %q: %v", alice.Coldkey, err)
	}

	uids, err := chain.ResolveUIDs(ns, []string{keys["Charlie"].Address(), keys["Alice"].Address()})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(uids, map[string]uint16{keys["Charlie"].Address(): 7, keys["Alice"].Address(): 0}) {
		t.Errorf("uids %v", uids)
	}
	eve := signer(t, "//Eve").Address()
	_, err = chain.ResolveUIDs(ns, []string{keys["Bob"].Address(), eve, eve, "5notanaddress"})
	if agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), eve) || !strings.Contains(err.Error(), "5notanaddress") {
		t.Errorf("unknown hotkeys: %v", err)
	}
	if got := chain.Permitted(ns); !reflect.DeepEqual(got, []string{keys["Alice"].Address(), keys["Charlie"].Address()}) {
		t.Errorf("permitted %v", got)
	}

	// A subnet without neurons is empty, not an error.
	if ns, err := c.Metagraph(ctx, 2); err != nil || len(ns) != 0 {
		t.Errorf("empty subnet: %v, %v", ns, err)
	}
}

func TestHyperparams(t *testing.T) {
	node, c, _ := subnet(t)
	ctx := context.Background()
	hp, err := c.Hyperparams(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := chain.Hyperparams{Tempo: 360, CommitRevealEnabled: true, WeightsVersionKey: 0, WeightsSetRateLimit: 100}
	if hp != want {
		t.Errorf("defaults %+v, want %+v", hp, want)
	}
	want = chain.Hyperparams{Tempo: 99, CommitRevealEnabled: false, WeightsVersionKey: 1033, WeightsSetRateLimit: 1 << 40}
	node.SetHyperparams(1, want)
	if hp, err = c.Hyperparams(ctx, 1); err != nil || hp != want {
		t.Errorf("stored %+v, %v; want %+v", hp, err, want)
	}
	// Other subnets keep the defaults: the key includes the netuid.
	if hp, err = c.Hyperparams(ctx, 2); err != nil || hp.Tempo != 360 {
		t.Errorf("netuid 2: %+v, %v", hp, err)
	}
	// A value of the wrong width is an error, not a silent misread.
	node.SetStorage(chain.NetuidMapKey("Tempo", 1), []byte{1, 2, 3})
	if _, err := c.Hyperparams(ctx, 1); !errors.Is(err, chain.ErrTrailingBytes) {
		t.Errorf("3-byte u16: %v", err)
	}
	node.SetStorage(chain.NetuidMapKey("Tempo", 1), []byte{1})
	if _, err := c.Hyperparams(ctx, 1); !errors.Is(err, chain.ErrShortInput) {
		t.Errorf("1-byte u16: %v", err)
	}
	node.SetStorage(chain.NetuidMapKey("Tempo", 1), nil)
	node.SetStorage(chain.NetuidMapKey("CommitRevealWeightsEnabled", 1), []byte{7})
	if _, err := c.Hyperparams(ctx, 1); !errors.Is(err, chain.ErrInvalidValue) {
		t.Errorf("bool 7: %v", err)
	}
}

func TestLastUpdate(t *testing.T) {
	node, c, _ := subnet(t)
	ctx := context.Background()
	if v, err := c.LastUpdate(ctx, 1, 3); err != nil || v != 0 {
		t.Errorf("unset: %d, %v", v, err)
	}
	node.SetLastUpdate(1, []uint64{10, 0, 0, 777})
	if v, err := c.LastUpdate(ctx, 1, 3); err != nil || v != 777 {
		t.Errorf("uid 3: %d, %v", v, err)
	}
	if v, err := c.LastUpdate(ctx, 1, 9); err != nil || v != 0 {
		t.Errorf("uid past the vector: %d, %v", v, err)
	}
	node.SetStorage(chain.NetuidMapKey("LastUpdate", 1), []byte{0x08, 1, 2, 3})
	if _, err := c.LastUpdate(ctx, 1, 0); !errors.Is(err, chain.ErrShortInput) {
		t.Errorf("truncated vector: %v", err)
	}
}

func TestBlockNumber(t *testing.T) {
	node, c, _ := subnet(t)
	ctx := context.Background()
	node.SetBlock(0x1234567)
	if n, err := c.BlockNumber(ctx); err != nil || n != 0x1234567 {
		t.Fatalf("%d, %v", n, err)
	}
	node.Advance(3)
	if n, _ := c.BlockNumber(ctx); n != 0x123456a {
		t.Fatalf("after advance: %d", n)
	}
	g, err := c.Genesis(ctx)
	if err != nil || g != node.Genesis() {
		t.Fatalf("genesis %x, %v", g, err)
	}
	rv, err := c.RuntimeVersion(ctx)
	if err != nil || rv.SpecVersion != 425 || rv.TransactionVersion != 1 || rv.SpecName != "node-subtensor" {
		t.Fatalf("runtime %+v, %v", rv, err)
	}
}

// The reference call bytes of bittensor_interop.md §3, which Go and
// polkadot-js agreed on.
const refSetWeights = "0700" + "0100" + "0c000003000700" + "0cffff00800100" + "0904000000000000"

var (
	refUIDs = []uint16{0, 3, 7}
	refVals = []uint16{65535, 32768, 1}
	refSalt = []uint16{11, 22, 33, 44, 55, 66, 77, 88}
)

func TestSetWeightsAccepted(t *testing.T) {
	node, c, keys := subnet(t)
	ctx := context.Background()
	node.SetHyperparams(1, chain.Hyperparams{Tempo: 360, WeightsSetRateLimit: 100})
	alice := keys["Alice"]
	node.SetNonce(alice.PublicKey(), 41)

	h, err := c.SetWeights(ctx, alice, 1, refUIDs, refVals, 1033)
	if err != nil {
		t.Fatal(err)
	}
	xs := node.Extrinsics()
	if len(xs) != 1 {
		t.Fatalf("%d extrinsics", len(xs))
	}
	x := xs[0]
	if x.Hash != h || chain.ExtrinsicHash(x.Raw) != h {
		t.Errorf("hash %s, node %s", h, x.Hash)
	}
	if !bytes.Equal(x.CallBytes, unhex(t, refSetWeights)) {
		t.Errorf("call %x, want %s", x.CallBytes, refSetWeights)
	}
	if got, want := x.String(), "SubtensorModule.set_weights(netuid=1, dests=[0 3 7], weights=[65535 32768 1], version_key=1033)"; got != want {
		t.Errorf("call %s", got)
	}
	if x.Address != alice.Address() || x.Nonce != 41 || x.Tip != 0 || x.MetadataMode != 0 || x.DispatchError != "" || x.Future {
		t.Errorf("extrinsic %+v", x)
	}
	if x.Era != chain.MortalEra(chain.DefaultMortalPeriod, chaintest.DefaultBlock) {
		t.Errorf("era %+v", x.Era)
	}
	if node.Nonce(alice.PublicKey()) != 42 {
		t.Errorf("nonce not advanced: %d", node.Nonce(alice.PublicKey()))
	}
	if v, _ := c.LastUpdate(ctx, 1, 0); v != chaintest.DefaultBlock {
		t.Errorf("LastUpdate after set_weights: %d", v)
	}

	// Inside the rate limit the pool refuses it: ERATELIMIT.
	node.Advance(10)
	_, err = c.SetWeights(ctx, alice, 1, refUIDs, refVals, 1033)
	var re *chain.RPCError
	if !errors.As(err, &re) || re.Code != 1010 || re.DataString() != "Custom error: 6" || agora.ErrorCode(err) != agora.ERATELIMIT {
		t.Fatalf("rate limited: %v (code %s)", err, agora.ErrorCode(err))
	}
	if !strings.HasPrefix(err.Error(), "chain: author_submitExtrinsic SubtensorModule.set_weights: rpc error 1010: Invalid Transaction: Custom error: 6") {
		t.Errorf("message: %v", err)
	}
	node.Advance(100)
	if _, err := c.SetWeights(ctx, alice, 1, refUIDs, refVals, 1033); err != nil {
		t.Fatalf("after the rate limit: %v", err)
	}
	if xs := node.Extrinsics(); len(xs) != 2 || xs[1].Nonce != 42 {
		t.Fatalf("second submission: %+v", xs)
	}
}

func TestSetWeightsCommitRevealEnabled(t *testing.T) {
	node, c, keys := subnet(t)
	ctx := context.Background()
	// Nothing stored: commit-reveal defaults to enabled, so the preflight
	// refuses and nothing is sent.
	_, err := c.SetWeights(ctx, keys["Alice"], 1, refUIDs, refVals, 1033)
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || !strings.Contains(err.Error(), "commit-reveal is enabled") {
		t.Fatalf("preflight: %v", err)
	}
	if node.Calls("author_submitExtrinsic") != 0 {
		t.Fatal("submitted despite the preflight")
	}
	// Without the preflight the pool accepts it and dispatch fails, as on
	// chain.
	raw, err := chain.New(node.URL(), chain.Options{SkipPreflight: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.SetWeights(ctx, keys["Alice"], 1, refUIDs, refVals, 1033); err != nil {
		t.Fatal(err)
	}
	if xs := node.Extrinsics(); len(xs) != 1 || xs[0].DispatchError != "CommitRevealEnabled" {
		t.Fatalf("%+v", xs)
	}
	// The version-key preflight.
	node.SetHyperparams(1, chain.Hyperparams{WeightsVersionKey: 2000})
	if _, err := c.SetWeights(ctx, keys["Alice"], 1, refUIDs, refVals, 1033); agora.ErrorCode(err) != agora.EUNPROCESSABLE ||
		!strings.Contains(err.Error(), "WeightsVersionKey 2000") {
		t.Fatalf("version key: %v", err)
	}
	node.Advance(200)
	if _, err := raw.SetWeights(ctx, keys["Alice"], 1, refUIDs, refVals, 1033); err != nil {
		t.Fatal(err)
	}
	if xs := node.Extrinsics(); xs[len(xs)-1].DispatchError != "IncorrectWeightVersionKey" {
		t.Fatalf("%+v", xs[len(xs)-1])
	}
	if _, err := c.SetWeights(ctx, keys["Alice"], 1, refUIDs, refVals[:2], 1033); agora.ErrorCode(err) != agora.EINVALID {
		t.Fatalf("length mismatch: %v", err)
	}
}

func TestCommitReveal(t *testing.T) {
	node, c, keys := subnet(t)
	ctx := context.Background()
	charlie := keys["Charlie"]
	hash := chain.CommitHash(charlie.PublicKey(), chain.NetuidIndex(1, 0), refUIDs, refVals, refSalt, 1033)

	if _, err := c.CommitWeights(ctx, charlie, 1, hash); err != nil {
		t.Fatal(err)
	}
	node.Advance(361)
	if _, err := c.RevealWeights(ctx, charlie, 1, refUIDs, refVals, refSalt, 1033); err != nil {
		t.Fatal(err)
	}
	xs := node.Extrinsics()
	if len(xs) != 2 {
		t.Fatalf("%d extrinsics", len(xs))
	}
	wantCommit := append([]byte{7, 96, 1, 0}, hash[:]...)
	if !bytes.Equal(xs[0].CallBytes, wantCommit) || xs[0].Args.CommitHash != hash || xs[0].DispatchError != "" {
		t.Errorf("commit %s %+v", xs[0], xs[0])
	}
	if !bytes.Equal(xs[1].CallBytes, chain.RevealWeightsCall(1, refUIDs, refVals, refSalt, 1033)) ||
		!reflect.DeepEqual(xs[1].Args.Salt, refSalt) || xs[1].DispatchError != "" || xs[1].Nonce != 1 {
		t.Errorf("reveal %s %+v", xs[1], xs[1])
	}
	if got := xs[1].String(); got != "SubtensorModule.reveal_weights(netuid=1, uids=[0 3 7], values=[65535 32768 1], salt=[11 22 33 44 55 66 77 88], version_key=1033)" {
		t.Errorf("reveal %s", got)
	}

	// Revealing what was never committed: the pool refuses (CommitNotFound).
	_, err := c.RevealWeights(ctx, charlie, 1, refUIDs, refVals, []uint16{1, 2, 3}, 1033)
	var re *chain.RPCError
	if !errors.As(err, &re) || re.Code != 1010 || re.DataString() != "Custom error: 16" || agora.ErrorCode(err) != agora.EUNPROCESSABLE {
		t.Fatalf("unmatched reveal: %v", err)
	}

	// With commit-reveal off, the preflight refuses commits and reveals.
	node.SetCommitReveal(1, false)
	if _, err := c.CommitWeights(ctx, charlie, 1, hash); agora.ErrorCode(err) != agora.EUNPROCESSABLE {
		t.Fatalf("commit with commit-reveal off: %v", err)
	}
	if _, err := c.RevealWeights(ctx, charlie, 1, refUIDs, refVals, refSalt, 1033); agora.ErrorCode(err) != agora.EUNPROCESSABLE {
		t.Fatalf("reveal with commit-reveal off: %v", err)
	}
}

// submitRaw sends an extrinsic built outside the client.
func submitRaw(t *testing.T, c *chain.RPCClient, ext []byte) error {
	t.Helper()
	var h string
	return c.Call(context.Background(), "author_submitExtrinsic", &h, "0x"+hex.EncodeToString(ext))
}

func nodeParams(node *chaintest.Node, nonce uint64) chain.TxParams {
	return chain.TxParams{
		SpecVersion: chaintest.DefaultSpecVersion, TxVersion: chaintest.DefaultTxVersion,
		Genesis: node.Genesis(), EraBlock: node.Genesis(), Nonce: nonce,
	}
}

func wantInvalid(t *testing.T, err error, data string) {
	t.Helper()
	var re *chain.RPCError
	if !errors.As(err, &re) || re.Code != 1010 || re.Message != "Invalid Transaction" || re.DataString() != data {
		t.Fatalf("got %v, want 1010 %q", err, data)
	}
}

func TestBadSignature(t *testing.T) {
	node, c, keys := subnet(t)
	node.SetCommitReveal(1, false)
	alice := keys["Alice"]
	call := chain.SetWeightsCall(1, refUIDs, refVals, 1033)
	exts := chain.SubtensorExtensions()

	// Signed for another runtime version, another chain, another era
	// block: each is a bad signature to this node.
	for name, mut := range map[string]func(*chain.TxParams){
		"spec version": func(p *chain.TxParams) { p.SpecVersion++ },
		"tx version":   func(p *chain.TxParams) { p.TxVersion++ },
		"genesis":      func(p *chain.TxParams) { p.Genesis[0] ^= 1; p.EraBlock = p.Genesis },
		"era block": func(p *chain.TxParams) {
			p.Era = chain.MortalEra(64, node.Block())
			p.EraBlock = node.BlockHash(node.Block() - 1)
		},
	} {
		p := nodeParams(node, 0)
		mut(&p)
		ext, err := chain.SignedExtrinsic(alice, call, exts, &p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { wantInvalid(t, submitRaw(t, c, ext), "Transaction has a bad signature") })
	}

	// A valid extrinsic with a flipped call byte, or signed by Bob but
	// claiming Alice.
	p := nodeParams(node, 0)
	ext, _ := chain.SignedExtrinsic(alice, call, exts, &p)
	ext[len(ext)-1] ^= 1
	wantInvalid(t, submitRaw(t, c, ext), "Transaction has a bad signature")
	ext, _ = chain.SignedExtrinsic(keys["Bob"], call, exts, &p)
	_, n, _ := chain.DecodeCompact(ext)
	pub := alice.PublicKey()
	copy(ext[n+2:], pub[:])
	wantInvalid(t, submitRaw(t, c, ext), "Transaction has a bad signature")

	// The client itself, after the node moved to another chain: its cached
	// genesis no longer matches.
	if _, err := c.Genesis(context.Background()); err != nil {
		t.Fatal(err)
	}
	node.SetGenesis([32]byte{1, 2, 3})
	_, err := c.SetWeights(context.Background(), alice, 1, refUIDs, refVals, 1033)
	wantInvalid(t, err, "Transaction has a bad signature")
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE {
		t.Errorf("code %s", agora.ErrorCode(err))
	}
	if len(node.Extrinsics()) != 0 {
		t.Fatal("a bad extrinsic was recorded")
	}

	// A mortal transaction that expired: the node computes a later birth
	// block, whose hash the signature does not cover.
	node.SetGenesis(p.Genesis)
	p = nodeParams(node, 0)
	p.Era = chain.MortalEra(64, node.Block())
	p.EraBlock = node.BlockHash(node.Block())
	ext, _ = chain.SignedExtrinsic(alice, call, exts, &p)
	node.Advance(64)
	wantInvalid(t, submitRaw(t, c, ext), "Transaction has a bad signature")
}

func TestNonces(t *testing.T) {
	node, c, keys := subnet(t)
	node.SetCommitReveal(1, false)
	alice := keys["Alice"]
	node.SetNonce(alice.PublicKey(), 5)
	call := chain.SetWeightsCall(1, refUIDs, refVals, 1033)

	p := nodeParams(node, 4)
	ext, _ := chain.SignedExtrinsic(alice, call, chain.SubtensorExtensions(), &p)
	wantInvalid(t, submitRaw(t, c, ext), "Transaction is outdated")
	if _, err := c.SetWeights(context.Background(), alice, 1, refUIDs, refVals, 1033); err != nil {
		t.Fatal(err)
	}
	// Replaying the accepted transaction: its nonce is used now.
	xs := node.Extrinsics()
	wantInvalid(t, submitRaw(t, c, xs[0].Raw), "Transaction is outdated")

	// A future nonce is pooled, not dispatched; submitting it twice is
	// "already imported". (Advance past the weights rate limit first.)
	node.Advance(200)
	p = nodeParams(node, 9)
	ext, _ = chain.SignedExtrinsic(alice, call, chain.SubtensorExtensions(), &p)
	if err := submitRaw(t, c, ext); err != nil {
		t.Fatal(err)
	}
	if xs := node.Extrinsics(); len(xs) != 2 || !xs[1].Future || node.Nonce(alice.PublicKey()) != 6 {
		t.Fatalf("future: %+v", xs)
	}
	var re *chain.RPCError
	if err := submitRaw(t, c, ext); !errors.As(err, &re) || re.Code != chain.CodeAlreadyImported {
		t.Fatalf("resubmitted: %v", err)
	}
}

func TestMalformedExtrinsics(t *testing.T) {
	node, c, keys := subnet(t)
	p := nodeParams(node, 0)
	good, _ := chain.SignedExtrinsic(keys["Alice"], chain.CommitWeightsCall(1, [32]byte{}), chain.SubtensorExtensions(), &p)
	_, n, _ := chain.DecodeCompact(good)
	body := good[n:]
	withLen := func(b []byte) []byte { return chain.AppendBytes(nil, b) }
	cases := map[string][]byte{
		"empty":            {},
		"length too long":  append(chain.AppendCompact(nil, uint64(len(body)+1)), body...),
		"length too short": append(chain.AppendCompact(nil, uint64(len(body)-1)), body...),
		"unsigned":         withLen(append([]byte{0x04}, body[1:]...)),
		"version 5":        withLen(append([]byte{0x85}, body[1:]...)),
		"trailing byte":    withLen(append(append([]byte{}, body...), 0)),
		"truncated call":   withLen(body[:len(body)-1]),
		"bad era":          withLen(append(append(append([]byte{}, body[:99]...), 0x10, 0x00), body[100:]...)),
		"unknown call":     withLen(append(append([]byte{}, body[:len(body)-36]...), 7, 200, 1, 0)),
		"other pallet":     withLen(append(append([]byte{}, body[:len(body)-36]...), 0, 0)),
	}
	for name, ext := range cases {
		t.Run(name, func(t *testing.T) {
			var re *chain.RPCError
			if err := submitRaw(t, c, ext); !errors.As(err, &re) || re.Code != chain.CodeBadFormat {
				t.Fatalf("got %v, want a 1001 error", err)
			}
		})
	}
	// Not MultiAddress::Id: the runtime's lookup refuses the signer.
	bad := withLen(append([]byte{0x84, 0x03}, body[2:]...))
	wantInvalid(t, submitRaw(t, c, bad), "Invalid signing address")
	if len(node.Extrinsics()) != 0 {
		t.Fatal("recorded a malformed extrinsic")
	}
}

func TestEras(t *testing.T) {
	node, _, keys := subnet(t)
	node.SetCommitReveal(1, true)
	hash := [32]byte{9}
	ctx := context.Background()
	node.SetFinalityLag(3)

	for _, opts := range []chain.Options{
		{Immortal: true},
		{MortalPeriod: 4},
		{MortalPeriod: 1000}, // rounds up to 1024
		{MortalPeriod: 65536},
	} {
		c, err := chain.New(node.URL(), opts)
		if err != nil {
			t.Fatal(err)
		}
		node.Advance(1234567)
		if _, err := c.CommitWeights(ctx, keys["Alice"], 1, hash); err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		xs := node.Extrinsics()
		x := xs[len(xs)-1]
		finalized := node.Block() - 3
		var want chain.Era
		if !opts.Immortal {
			want = chain.MortalEra(opts.MortalPeriod, finalized)
		}
		if x.Era != want {
			t.Errorf("%+v: era %+v, want %+v", opts, x.Era, want)
		}
	}
}

func TestTip(t *testing.T) {
	node, _, keys := subnet(t)
	c, err := chain.New(node.URL(), chain.Options{Tip: 123456789})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitWeights(context.Background(), keys["Alice"], 1, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	if x := node.Extrinsics()[0]; x.Tip != 123456789 {
		t.Fatalf("tip %d", x.Tip)
	}
}

func TestNodeDown(t *testing.T) {
	ctx := context.Background()
	t.Run("closed", func(t *testing.T) {
		node, c, _ := subnet(t)
		node.Close()
		_, err := c.BlockNumber(ctx)
		if agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(err.Error(), "chain: chain_getHeader: node http://127.0.0.1:") {
			t.Fatalf("%v (%s)", err, agora.ErrorCode(err))
		}
	})
	t.Run("drops connections", func(t *testing.T) {
		node, c, keys := subnet(t)
		node.SetDown(true)
		if _, err := c.Metagraph(ctx, 1); agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("%v", err)
		}
		if _, err := c.CommitWeights(ctx, keys["Alice"], 1, [32]byte{}); agora.ErrorCode(err) != agora.EUNAVAILABLE {
			t.Fatalf("%v", err)
		}
		node.ClearFailures()
		if _, err := c.Metagraph(ctx, 1); err != nil {
			t.Fatalf("back up: %v", err)
		}
	})
	t.Run("HTTP 500", func(t *testing.T) {
		node, c, _ := subnet(t)
		node.FailHTTP(http.StatusInternalServerError)
		_, err := c.Hyperparams(ctx, 1)
		if agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("%v", err)
		}
		node.FailHTTP(http.StatusTooManyRequests)
		if _, err := c.Hyperparams(ctx, 1); agora.ErrorCode(err) != agora.ERATELIMIT {
			t.Fatalf("429: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(block)
		c, _ := chain.New(srv.URL, chain.Options{Timeout: 50 * time.Millisecond})
		_, err := c.BlockNumber(ctx)
		if agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Fatalf("%v", err)
		}
		// The caller's own cancellation is not the node's fault.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.BlockNumber(cctx); !errors.Is(err, context.Canceled) || agora.ErrorCode(err) == agora.EUNAVAILABLE {
			t.Fatalf("cancelled: %v", err)
		}
	})
	t.Run("not JSON-RPC", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>hello</html>"))
		}))
		defer srv.Close()
		c, _ := chain.New(srv.URL, chain.Options{})
		if _, err := c.BlockNumber(ctx); err == nil || !strings.Contains(err.Error(), "non-JSON-RPC") {
			t.Fatalf("%v", err)
		}
	})
}

func TestRPCError(t *testing.T) {
	node, c, _ := subnet(t)
	ctx := context.Background()
	node.FailMethod("state_call", -32000, "Client error: Execution failed: Runtime panicked", "boom")
	_, err := c.Metagraph(ctx, 1)
	var re *chain.RPCError
	if !errors.As(err, &re) || re.Code != -32000 {
		t.Fatalf("%v", err)
	}
	if want := "chain: state_call NeuronInfoRuntimeApi_get_neurons_lite: rpc error -32000: Client error: Execution failed: Runtime panicked: boom"; err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}
	node.ClearFailures()
	node.FailMethod("state_getStorage", -32602, "Invalid params", nil)
	if _, err := c.Hyperparams(ctx, 1); !errors.As(err, &re) || !strings.Contains(err.Error(), "state_getStorage SubtensorModule.Tempo(1)") {
		t.Fatalf("%v", err)
	}
	var out any
	if err := c.Call(ctx, "no_suchMethod", &out); !errors.As(err, &re) || re.Code != -32601 {
		t.Fatalf("%v", err)
	}
}

func TestMalformedSCALE(t *testing.T) {
	node, c, _ := subnet(t)
	ctx := context.Background()
	good := chaintest.EncodeNeuronInfoLiteVec(randNeurons(rand.New(rand.NewPCG(1, 1)), 2))
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 0xaa),
		"huge vec":  {0xff, 0xff, 0xff, 0xff, 0xff},
		"empty":     {},
	} {
		node.SetStateCall("NeuronInfoRuntimeApi_get_neurons_lite", []byte{1, 0}, b)
		_, err := c.Metagraph(ctx, 1)
		if err == nil || !strings.Contains(err.Error(), "chain: state_call NeuronInfoRuntimeApi_get_neurons_lite(1): decode Vec<NeuronInfoLite>") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestResponseCap(t *testing.T) {
	node, _, _ := subnet(t)
	node.SetNeurons(1, randNeurons(rand.New(rand.NewPCG(1, 1)), 50))
	c, _ := chain.New(node.URL(), chain.Options{MaxResponseBytes: 4096})
	if _, err := c.Metagraph(context.Background(), 1); agora.ErrorCode(err) != agora.ETOOLARGE {
		t.Fatalf("%v", err)
	}
	if _, err := c.BlockNumber(context.Background()); err != nil {
		t.Fatalf("small answers still pass: %v", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ws://node:9944", "node:9944", "http://", "::"} {
		if _, err := chain.New(u, chain.Options{}); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("%q: %v", u, err)
		}
	}
	// The URL's path and query (which may hold an API key) stay out of
	// error messages.
	c, _ := chain.New("http://127.0.0.1:1/rpc?apikey=s3cret", chain.Options{Timeout: time.Second})
	if _, err := c.BlockNumber(context.Background()); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("%v", err)
	}
}
