package agora

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// ResultSigningVersion names the canonical encoding a validator signs a
// result with. A change to what is signed, or how, gets a new version;
// verifiers keep reading the old ones.
const ResultSigningVersion = "agora-verdict-v1"

// SigningBytes returns the canonical bytes of what a validator vouches for
// in r when it replayed the spec whose hash is specHash: the spec, the
// submission, the validator, the status, every test status and every
// observed metric. Reason, notes, logs and timings are not covered: they
// describe the run, they do not decide it.
//
// The encoding (agora-verdict-v1) is plain text, one item a line, so any
// language can rebuild it:
//
//	agora-verdict-v1\n
//	spec <replay spec hash>\n
//	submission <len>:<submission id>\n
//	validator <len>:<validator hotkey>\n
//	status <status>\n
//	tests <count>\n
//	<len>:<test name> <len>:<test status>\n      (one per test, names in byte order)
//	metrics <count>\n
//	<len>:<metric name> <16 hex digits>\n         (one per metric, names in byte order)
//
// <len> is the decimal byte length of the string after the colon, so names
// may hold any byte, spaces and newlines included. A metric value is its
// IEEE-754 binary64 bits, big-endian, in lower-case hex: no float
// formatting rule to agree on (Python: struct.pack(">d", v).hex()).
func (r *Result) SigningBytes(specHash string) []byte {
	b := make([]byte, 0, 256+64*len(r.Tests))
	str := func(s string) { b = strconv.AppendInt(b, int64(len(s)), 10); b = append(b, ':'); b = append(b, s...) }
	b = append(b, ResultSigningVersion+"\n"...)
	b = append(b, "spec "+specHash+"\n"...)
	b = append(b, "submission "...)
	str(r.SubmissionID)
	b = append(b, "\nvalidator "...)
	str(r.Validator)
	b = append(b, "\nstatus "+r.Status+"\n"...)
	b = append(b, "tests "...)
	b = strconv.AppendInt(b, int64(len(r.Tests)), 10)
	b = append(b, '\n')
	for _, k := range slices.Sorted(maps.Keys(r.Tests)) {
		str(k)
		b = append(b, ' ')
		str(r.Tests[k])
		b = append(b, '\n')
	}
	b = append(b, "metrics "...)
	b = strconv.AppendInt(b, int64(len(r.ObservedMetrics)), 10)
	b = append(b, '\n')
	for _, k := range slices.Sorted(maps.Keys(r.ObservedMetrics)) {
		str(k)
		var bits [8]byte
		binary.BigEndian.PutUint64(bits[:], math.Float64bits(r.ObservedMetrics[k]))
		b = fmt.Appendf(b, " %x\n", bits)
	}
	return b
}

// SigningDigest is the SHA-256 of r.SigningBytes(specHash): the 32 bytes a
// validator's hotkey signs (sr25519, context "substrate", as every hotkey
// signature here).
func (r *Result) SigningDigest(specHash string) [32]byte {
	return sha256.Sum256(r.SigningBytes(specHash))
}
