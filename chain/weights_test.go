package chain

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestConvertWeights(t *testing.T) {
	tests := []struct {
		name     string
		uids     []int
		weights  []float64
		wantUIDs []uint16
		wantVals []uint16
	}{
		// The example from the interop reference: max-upscaled, not summing to 65535.
		{"reference 0.9/0.1", []int{0, 1}, []float64{0.9, 0.1}, []uint16{0, 1}, []uint16{65535, 7282}},
		{"single weight", []int{42}, []float64{0.3}, []uint16{42}, []uint16{65535}},
		{"single tiny weight", []int{5}, []float64{1e-30}, []uint16{5}, []uint16{65535}},
		{"all zeros", []int{0, 1, 2}, []float64{0, 0, 0}, []uint16{}, []uint16{}},
		{"empty", []int{}, []float64{}, []uint16{}, []uint16{}},
		// Underflows float32 to 0, so the sum is 0 as in the SDK.
		{"float32 underflow", []int{0}, []float64{1e-50}, []uint16{}, []uint16{}},
		{"negative zero", []int{0, 1}, []float64{math.Copysign(0, -1), 1}, []uint16{1}, []uint16{65535}},
		{"equal weights", []int{3, 1, 2}, []float64{2, 2, 2}, []uint16{3, 1, 2}, []uint16{65535, 65535, 65535}},
		{"zeros dropped, alignment kept", []int{10, 11, 12, 13}, []float64{0, 4, 0, 1},
			[]uint16{11, 13}, []uint16{65535, 16384}}, // 16383.75 rounds up
		// 1/2*65535 = 32767.5: a tie whose even neighbour is the larger one.
		{"tie rounds up to even", []int{0, 1}, []float64{1, 2}, []uint16{0, 1}, []uint16{32768, 65535}},
		// k/131070*65535 = k/2 exactly in float64 for these odd k: ties
		// whose even neighbour is the smaller one, where math.Round differs.
		{"tie 2.5 rounds down to 2", []int{0, 1}, []float64{5, 131070}, []uint16{0, 1}, []uint16{2, 65535}},
		{"tie 4.5 rounds down to 4", []int{0, 1}, []float64{9, 131070}, []uint16{0, 1}, []uint16{4, 65535}},
		{"tie 3.5 rounds up to 4", []int{0, 1}, []float64{7, 131070}, []uint16{0, 1}, []uint16{4, 65535}},
		// 0.5 rounds to 0, so the entry is dropped.
		{"tie 0.5 rounds to 0 and is dropped", []int{7, 8}, []float64{1, 131070}, []uint16{8}, []uint16{65535}},
		// float32 cast first: 1+2^-30 is 1 in float32, so both weights tie at max.
		{"float32 cast before scaling", []int{0, 1}, []float64{1 + 0x1p-30, 1}, []uint16{0, 1}, []uint16{65535, 65535}},
		{"max uid", []int{65535}, []float64{1}, []uint16{65535}, []uint16{65535}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uids, vals, err := ConvertWeights(tt.uids, tt.weights)
			if err != nil {
				t.Fatalf("ConvertWeights: %v", err)
			}
			if !slices.Equal(uids, tt.wantUIDs) || !slices.Equal(vals, tt.wantVals) {
				t.Fatalf("got uids %v vals %v, want uids %v vals %v", uids, vals, tt.wantUIDs, tt.wantVals)
			}
			if uids == nil || vals == nil {
				t.Fatalf("got nil slice, want non-nil (uids %#v vals %#v)", uids, vals)
			}
		})
	}
}

// The tie cases above only test half-to-even if the scaled value is exactly
// k+0.5 before rounding; check that assumption.
func TestConvertWeightsTieInputsAreExact(t *testing.T) {
	for _, k := range []float64{1, 5, 7, 9} {
		x := k / 131070 * U16Max
		if x-math.Floor(x) != 0.5 {
			t.Errorf("%v/131070*65535 = %v, not an exact tie", k, x)
		}
	}
}

func TestConvertWeightsUint16UIDs(t *testing.T) {
	uids, vals, err := ConvertWeights([]uint16{0, 3, 7}, []float64{1, 0.5, 0})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(uids, []uint16{0, 3}) || !slices.Equal(vals, []uint16{65535, 32768}) {
		t.Fatalf("got %v %v", uids, vals)
	}
}

func TestConvertWeightsErrors(t *testing.T) {
	tests := []struct {
		name    string
		uids    []int
		weights []float64
		want    string
	}{
		{"negative weight", []int{0, 1, 2}, []float64{0.5, 0.2, -0.1}, "weight 2 (-0.1) is negative"},
		{"negative uid", []int{0, -4}, []float64{1, 1}, "uid 1 (-4) is negative"},
		{"uid too large", []int{65536}, []float64{1}, "uid 0 (65536) exceeds 65535"},
		{"length mismatch", []int{0, 1}, []float64{1}, "2 uids but 1 weights"},
		{"NaN", []int{0, 1}, []float64{1, math.NaN()}, "weight 1 (NaN) is not finite"},
		{"Inf", []int{0}, []float64{math.Inf(1)}, "weight 0 (+Inf) is not finite"},
		{"float32 overflow", []int{0}, []float64{1e39}, "weight 0 (1e+39) is not finite as float32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uids, vals, err := ConvertWeights(tt.uids, tt.weights)
			if err == nil {
				t.Fatalf("got %v %v, want error", uids, vals)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestConvertWeightsProperties checks invariants over random inputs: the
// largest weight maps to 65535, order is preserved, uids stay aligned, and
// every value is within 0.5 of the exact scaled weight.
func TestConvertWeightsProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		n := 1 + r.IntN(64)
		uids := r.Perm(4096)[:n]
		weights := make([]float64, n)
		for i := range weights {
			switch r.IntN(4) {
			case 0:
				weights[i] = 0
			case 1:
				weights[i] = r.Float64() * 1e-6
			default:
				weights[i] = r.Float64() * math.Pow(10, float64(r.IntN(7)-3))
			}
		}
		gotUIDs, gotVals, err := ConvertWeights(uids, weights)
		if err != nil {
			t.Fatalf("weights %v: %v", weights, err)
		}
		if len(gotUIDs) != len(gotVals) {
			t.Fatalf("misaligned output: %d uids, %d vals", len(gotUIDs), len(gotVals))
		}

		// Map each surviving uid back to its float32 input.
		idx := make(map[int]int, n)
		var maxW float64
		for i, u := range uids {
			idx[u] = i
			maxW = max(maxW, float64(float32(weights[i])))
		}
		if maxW == 0 {
			if len(gotVals) != 0 {
				t.Fatalf("all-zero weights gave %v", gotVals)
			}
			continue
		}
		if slices.Max(gotVals) != U16Max {
			t.Fatalf("max value %d, want 65535 (weights %v)", slices.Max(gotVals), weights)
		}
		surviving := 0
		for _, w := range weights {
			if float64(float32(w))/maxW*U16Max > 0.5 {
				surviving++
			}
		}
		if len(gotVals) != surviving {
			t.Fatalf("kept %d entries, want %d", len(gotVals), surviving)
		}
		for a := range gotUIDs {
			ia := idx[int(gotUIDs[a])]
			wa := float64(float32(weights[ia]))
			if exact := wa / maxW * U16Max; math.Abs(float64(gotVals[a])-exact) > 0.5 {
				t.Fatalf("uid %d: value %d, exact %v", gotUIDs[a], gotVals[a], exact)
			}
			if a > 0 && idx[int(gotUIDs[a-1])] >= ia {
				t.Fatalf("input order not preserved at output %d", a)
			}
			for b := range gotUIDs {
				wb := float64(float32(weights[idx[int(gotUIDs[b])]]))
				if wa < wb && gotVals[a] > gotVals[b] {
					t.Fatalf("order broken: w %v<%v but v %d>%d", wa, wb, gotVals[a], gotVals[b])
				}
			}
		}
	}
}
