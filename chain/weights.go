// Package chain is Agora's side of Bittensor's weight-setting path:
// converting float weights to the u16 values the chain stores, a minimal
// SCALE codec, the SubtensorModule set_weights / commit_weights /
// reveal_weights calls and commit hash, signed v4 extrinsics, and Client,
// a small subtensor JSON-RPC client (RPCClient; chaintest has a fake node).
package chain

import (
	"fmt"
	"math"
)

// U16Max is the value the largest weight is scaled to by ConvertWeights.
const U16Max = math.MaxUint16

// UID is any integer type a caller may hold neuron uids in.
type UID interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// ConvertWeights converts float weights to the u16 values set on chain,
// exactly like the Bittensor SDK's convert_weights_and_uids_for_emit:
//
//  1. weights are first cast to float32 (the SDK builds a numpy float32
//     array);
//  2. negative weights or uids, or differing lengths, are errors;
//  3. if the weights sum to 0 the result is empty;
//  4. each weight becomes round(w_i / max(w) × 65535) computed in float64,
//     with round half to even (Python's round);
//  5. entries that became 0 are dropped, keeping uids and values aligned.
//
// The result is max-upscaled: the largest weight becomes 65535 and the
// values do not sum to 65535 (the chain renormalises).
//
// Beyond the SDK, ConvertWeights also rejects uids above 65535 (they could
// not be encoded as u16) and non-finite weights, including finite float64
// values that overflow float32 (the SDK would fail in round() on NaN).
// Empty input returns empty output where Python's min() would raise.
func ConvertWeights[U UID](uids []U, weights []float64) ([]uint16, []uint16, error) {
	if len(uids) != len(weights) {
		return nil, nil, fmt.Errorf("convert weights: %d uids but %d weights", len(uids), len(weights))
	}
	w32 := make([]float64, len(weights))
	var sum, maxW float64
	for i, w := range weights {
		f := float64(float32(w))
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return nil, nil, fmt.Errorf("convert weights: weight %d (%v) is not finite as float32", i, w)
		case f < 0:
			return nil, nil, fmt.Errorf("convert weights: weight %d (%v) is negative", i, w)
		}
		w32[i] = f
		sum += f
		maxW = max(maxW, f)
	}
	for i, u := range uids {
		// Compare through the signed/unsigned split without overflow:
		// u < 0 is false for unsigned types, and a negative value never
		// reaches the second test.
		if u < 0 {
			return nil, nil, fmt.Errorf("convert weights: uid %d (%d) is negative", i, int64(u))
		}
		if uint64(u) > U16Max {
			return nil, nil, fmt.Errorf("convert weights: uid %d (%d) exceeds %d", i, uint64(u), U16Max)
		}
	}
	if sum == 0 {
		return []uint16{}, []uint16{}, nil
	}
	outUIDs := make([]uint16, 0, len(uids))
	outVals := make([]uint16, 0, len(uids))
	for i, f := range w32 {
		v := math.RoundToEven(f / maxW * U16Max)
		if v == 0 {
			continue
		}
		outUIDs = append(outUIDs, uint16(uids[i]))
		outVals = append(outVals, uint16(v))
	}
	return outUIDs, outVals, nil
}
