package agora_test

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/agoranet/agora"
)

// signingVector is one case of testdata/resultsig/vectors.json, written by
// an independent implementation (testdata/resultsig/gen.py).
type signingVector struct {
	Name     string       `json:"name"`
	SpecHash string       `json:"spec_hash"`
	Result   agora.Result `json:"result"`
	Encoding string       `json:"encoding"`
	SHA256   string       `json:"sha256"`
}

func TestResultSigningVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/resultsig/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []signingVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 3 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			if got := string(v.Result.SigningBytes(v.SpecHash)); got != v.Encoding {
				t.Errorf("SigningBytes:\n%q\nwant\n%q", got, v.Encoding)
			}
			d := v.Result.SigningDigest(v.SpecHash)
			if got := hex.EncodeToString(d[:]); got != v.SHA256 {
				t.Errorf("SigningDigest = %s, want %s", got, v.SHA256)
			}
		})
	}
}

// TestSigningBytesCover changes one field at a time: every field the
// signature vouches for changes the bytes, and the ones it does not
// (reason, notes, log, timing) leave them alone.
func TestSigningBytesCover(t *testing.T) {
	base := func() *agora.Result {
		return &agora.Result{SubmissionID: "s1", Validator: "v1", Status: agora.ResultAccepted,
			Tests: map[string]string{"a": "PASSED", "b": "FAILED"}, ObservedMetrics: map[string]float64{"loss": 0.5}}
	}
	const spec = "aa"
	want := string(base().SigningBytes(spec))
	for _, tc := range []struct {
		name    string
		mutate  func(r *agora.Result)
		spec    string
		changes bool
	}{
		{"Spec", func(r *agora.Result) {}, "bb", true},
		{"Submission", func(r *agora.Result) { r.SubmissionID = "s2" }, spec, true},
		{"Validator", func(r *agora.Result) { r.Validator = "v2" }, spec, true},
		{"Status", func(r *agora.Result) { r.Status = agora.ResultRejected }, spec, true},
		{"TestStatus", func(r *agora.Result) { r.Tests["a"] = "FAILED" }, spec, true},
		{"TestAdded", func(r *agora.Result) { r.Tests["c"] = "PASSED" }, spec, true},
		{"TestRenamed", func(r *agora.Result) { delete(r.Tests, "b"); r.Tests["b "] = "FAILED" }, spec, true},
		// A name holding the separator cannot pose as two entries.
		{"TestSmuggled", func(r *agora.Result) { delete(r.Tests, "b"); r.Tests["a"] = "PASSED\n1:b 6:FAILED" }, spec, true},
		{"MetricValue", func(r *agora.Result) { r.ObservedMetrics["loss"] = math.Nextafter(0.5, 1) }, spec, true},
		{"MetricNegZero", func(r *agora.Result) { r.ObservedMetrics["z"] = 0 }, spec, true},
		{"Reason", func(r *agora.Result) { r.Reason = "x" }, spec, false},
		{"Notes", func(r *agora.Result) { r.Notes, r.LogSHA256, r.DurationMS = "n", "h", 5 }, spec, false},
		{"Signature", func(r *agora.Result) { r.Signer, r.Signature = "v1", "0x00" }, spec, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(r)
			if changed := string(r.SigningBytes(tc.spec)) != want; changed != tc.changes {
				t.Errorf("bytes changed = %v, want %v", changed, tc.changes)
			}
		})
	}
	neg := base()
	neg.ObservedMetrics["loss"] = math.Copysign(0, -1)
	pos := base()
	pos.ObservedMetrics["loss"] = 0
	if string(neg.SigningBytes(spec)) == string(pos.SigningBytes(spec)) {
		t.Error("-0 and 0 encode alike: the encoding is of the bits, they differ")
	}
}

func BenchmarkSigningBytes(b *testing.B) {
	r := &agora.Result{SubmissionID: "s1", Validator: "5CRnun4ED8sh4dTdm7gNvr24PFiYVL1iTWePmMomHcuEEbGp", Status: agora.ResultAccepted,
		Tests: map[string]string{}, ObservedMetrics: map[string]float64{"loss": 0.5}}
	for i := range 2000 {
		r.Tests["tests/test_mod.py::test_case_"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))] = "PASSED"
	}
	b.ReportAllocs()
	for b.Loop() {
		r.SigningDigest("1ec1a2fed1bc59f2e7dda8b2804101ec512f23f199872cdccbc20b016ed7112b")
	}
}
