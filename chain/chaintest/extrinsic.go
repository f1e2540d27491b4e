package chaintest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/hotkey"
)

// Extrinsic is a transaction the fake node took into its pool, decoded.
type Extrinsic struct {
	Raw     []byte       // as submitted, length prefix included
	Hash    chain.TxHash // blake2b-256 of Raw, what the node returned
	Signer  [32]byte
	Address string // Signer in SS58
	Era     chain.Era
	Nonce   uint64
	Tip     uint64
	// MetadataMode is CheckMetadataHash's mode byte (0 = disabled).
	MetadataMode uint8

	Pallet, Index uint8  // call's pallet and call index
	Call          string // "set_weights", "commit_weights" or "reveal_weights"
	Args          WeightsArgs
	CallBytes     []byte

	// Future is set for a nonce above the account's next one: a real
	// pool keeps such a transaction until the gap fills. The fake records
	// it but never dispatches it.
	Future bool
	// DispatchError is the pallet error the call failed with when the
	// fake "included" it ("" for success), e.g. "CommitRevealEnabled".
	// The node still accepted it: on a real chain this failure shows only
	// in the block's ExtrinsicFailed event.
	DispatchError string
}

// WeightsArgs are the arguments of the weights calls; fields a call does
// not have are zero.
type WeightsArgs struct {
	Netuid     uint16
	UIDs       []uint16 // set_weights dests, reveal_weights uids
	Values     []uint16 // set_weights weights, reveal_weights values
	Salt       []uint16 // reveal_weights
	VersionKey uint64
	CommitHash [32]byte // commit_weights
}

// String renders the call as a test would describe it.
func (x Extrinsic) String() string {
	a := x.Args
	switch x.Call {
	case "set_weights":
		return fmt.Sprintf("SubtensorModule.set_weights(netuid=%d, dests=%v, weights=%v, version_key=%d)", a.Netuid, a.UIDs, a.Values, a.VersionKey)
	case "commit_weights":
		return fmt.Sprintf("SubtensorModule.commit_weights(netuid=%d, commit_hash=0x%x)", a.Netuid, a.CommitHash)
	case "reveal_weights":
		return fmt.Sprintf("SubtensorModule.reveal_weights(netuid=%d, uids=%v, values=%v, salt=%v, version_key=%d)", a.Netuid, a.UIDs, a.Values, a.Salt, a.VersionKey)
	}
	return fmt.Sprintf("call %d.%d", x.Pallet, x.Index)
}

// Errors the node answers with, as Substrate's author RPC words them
// (sc-rpc-api author/error.rs; the InvalidTransaction texts are
// sp_runtime's).
const (
	msgInvalidTx       = "Invalid Transaction"
	dataBadProof       = "Transaction has a bad signature"
	dataStale          = "Transaction is outdated"
	dataAncientBirth   = "Transaction has an ancient birth block"
	dataBadSigner      = "Invalid signing address"
	dataRateLimit      = "Custom error: 6"  // subtensor CustomTransactionError::RateLimitExceeded
	dataCommitNotFound = "Custom error: 16" // CustomTransactionError::CommitNotFound
)

// errBadFormat marks an extrinsic that does not decode.
var errBadFormat = errors.New("bad format")

// parsed is an extrinsic split into its parts. The layout is hard-coded for
// the subtensor runtime's extension list rather than driven by
// chain.Extension, so the fake is a second, independent reading of the
// format.
type parsed struct {
	signer  [32]byte
	sigType uint8
	sig     []byte
	era     chain.Era
	nonce   uint64
	tip     uint64
	mode    uint8
	extra   []byte // era ‖ nonce ‖ tip ‖ mode, as sent
	call    []byte
	pallet  uint8
	index   uint8
	name    string
	args    WeightsArgs
}

// Sizes of the signature variants of sp_runtime::MultiSignature.
var sigSizes = map[uint8]int{0: 64, 1: 64, 2: 65} // Ed25519, Sr25519, Ecdsa

// parseExtrinsic decodes a length-prefixed v4 signed extrinsic carrying one
// of the weights calls. Every failure wraps errBadFormat, except a signer
// that is not MultiAddress::Id, which the runtime's lookup rejects later.
func parseExtrinsic(raw []byte) (*parsed, error) {
	size, n, err := chain.DecodeCompact(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: length prefix: %v", errBadFormat, err)
	}
	if uint64(len(raw)-n) != size {
		return nil, fmt.Errorf("%w: length prefix says %d bytes, %d follow", errBadFormat, size, len(raw)-n)
	}
	d := chain.NewDecoder(raw[n:])
	var p parsed
	switch v := d.U8(); {
	case d.Err() != nil:
		return nil, fmt.Errorf("%w: %v", errBadFormat, d.Err())
	case v&0x3f != 4:
		return nil, fmt.Errorf("%w: extrinsic version %d, want 4", errBadFormat, v&0x3f)
	case v&0x80 == 0:
		return nil, fmt.Errorf("%w: unsigned extrinsic (a weights call must be signed)", errBadFormat)
	case v != 0x84:
		return nil, fmt.Errorf("%w: version byte 0x%02x", errBadFormat, v)
	}
	if addr := d.U8(); d.Err() == nil && addr != 0 {
		return nil, errSigner{addr}
	}
	p.signer = d.Fixed32()
	p.sigType = d.U8()
	size2, ok := sigSizes[p.sigType]
	if d.Err() == nil && !ok {
		return nil, fmt.Errorf("%w: MultiSignature variant %d", errBadFormat, p.sigType)
	}
	p.sig = d.Take(size2)
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: %v", errBadFormat, d.Err())
	}
	extraStart := d.Offset()
	rest := raw[n+extraStart:]
	era, k, err := chain.DecodeEra(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: CheckMortality: %v", errBadFormat, err)
	}
	p.era = era
	d.Take(k)
	p.nonce = d.CompactMax(1<<32 - 1) // subtensor's Nonce is u32
	p.tip = d.Compact()               // Compact<TaoBalance>, a u64
	p.mode = d.U8()
	if d.Err() == nil && p.mode > 1 {
		return nil, fmt.Errorf("%w: CheckMetadataHash mode %d", errBadFormat, p.mode)
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: extensions: %v", errBadFormat, d.Err())
	}
	p.extra = raw[n+extraStart : n+d.Offset()]
	p.call = raw[n+d.Offset():]
	if err := p.parseCall(); err != nil {
		return nil, err
	}
	return &p, nil
}

// errSigner is a MultiAddress other than Id.
type errSigner struct{ variant uint8 }

func (e errSigner) Error() string { return fmt.Sprintf("MultiAddress variant %d", e.variant) }

func (p *parsed) parseCall() error {
	d := chain.NewDecoder(p.call)
	p.pallet, p.index = d.U8(), d.U8()
	if d.Err() != nil {
		return fmt.Errorf("%w: call: %v", errBadFormat, d.Err())
	}
	if p.pallet != chain.SubtensorModuleIndex {
		return fmt.Errorf("%w: the fake decodes SubtensorModule calls only, got pallet %d", errBadFormat, p.pallet)
	}
	a := &p.args
	a.Netuid = d.U16()
	switch p.index {
	case chain.CallSetWeights:
		p.name = "set_weights"
		a.UIDs, a.Values, a.VersionKey = d.U16Vec(), d.U16Vec(), d.U64()
	case chain.CallCommitWeights:
		p.name = "commit_weights"
		a.CommitHash = d.Fixed32()
	case chain.CallRevealWeights:
		p.name = "reveal_weights"
		a.UIDs, a.Values, a.Salt, a.VersionKey = d.U16Vec(), d.U16Vec(), d.U16Vec(), d.U64()
	default:
		return fmt.Errorf("%w: the fake decodes weights calls only, got SubtensorModule call %d", errBadFormat, p.index)
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %s: %v", errBadFormat, p.name, err)
	}
	return nil
}

// signingPayload rebuilds what the signer must have signed, from the
// node's own view of the chain: call ‖ extra ‖ spec_version ‖
// transaction_version ‖ genesis ‖ era birth block hash ‖ metadata hash
// (None), hashed with blake2b-256 when over 256 bytes.
func (p *parsed) signingPayload(spec, txv uint32, genesis, eraBlock [32]byte, metadataHash *[32]byte) []byte {
	b := slices.Clone(p.call)
	b = append(b, p.extra...)
	b = chain.AppendU32(b, spec)
	b = chain.AppendU32(b, txv)
	b = append(b, genesis[:]...)
	b = append(b, eraBlock[:]...)
	if p.mode == 1 && metadataHash != nil {
		b = append(b, 1)
		b = append(b, metadataHash[:]...)
	} else {
		b = append(b, 0)
	}
	return chain.SignatureMessage(b)
}

func (p *parsed) verify(msg []byte) bool {
	return p.sigType == 1 && hotkey.VerifyRaw(p.signer, msg, p.sig)
}

func (p *parsed) record(raw []byte) Extrinsic {
	return Extrinsic{
		Raw: slices.Clone(raw), Hash: chain.ExtrinsicHash(raw),
		Signer: p.signer, Address: hotkey.SS58Encode(p.signer),
		Era: p.era, Nonce: p.nonce, Tip: p.tip, MetadataMode: p.mode,
		Pallet: p.pallet, Index: p.index, Call: p.name, Args: p.args, CallBytes: slices.Clone(p.call),
	}
}

// badFormat is the error a node gives for bytes that do not decode as an
// extrinsic. Which code a real node uses here varies across Substrate
// versions (decode failures go through the author RPC's generic client
// error); the fake uses 1001, Substrate's BAD_FORMAT.
func badFormat(err error) *rpcErr {
	return &rpcErr{Code: chain.CodeBadFormat, Message: "Extrinsic has invalid format: " + strings.TrimPrefix(err.Error(), errBadFormat.Error()+": ")}
}

func invalidTx(data string) *rpcErr {
	return &rpcErr{Code: chain.CodeInvalidTx, Message: msgInvalidTx, Data: data}
}
