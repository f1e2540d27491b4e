package hotkey_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// resultVector is a case of ../testdata/resultsig/vectors.json (the
// signing bytes) with its signature from testdata/resultsig.json.
type resultVector struct {
	Name     string       `json:"name"`
	SpecHash string       `json:"spec_hash"`
	Result   agora.Result `json:"result"`
}

type resultSig struct {
	Name      string `json:"name"`
	SignerURI string `json:"signer_uri"`
	Signer    string `json:"signer"`
	Signature string `json:"signature"`
}

// TestResultSignatureVectors checks signatures made once by
// //VectorValidator over the shared signing vectors (regenerate with
// -update), and that each breaks when the result it signs changes.
func TestResultSignatureVectors(t *testing.T) {
	b, err := os.ReadFile("../testdata/resultsig/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []resultVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	const sigFile = "testdata/resultsig.json"
	if *update {
		s, _ := hotkey.FromURI("//VectorValidator")
		var sigs []resultSig
		for _, v := range vs {
			r := v.Result
			if err := hotkey.SignResult(s, v.SpecHash, &r); err != nil {
				t.Fatal(err)
			}
			sigs = append(sigs, resultSig{v.Name, "//VectorValidator", r.Signer, r.Signature})
		}
		out, _ := json.MarshalIndent(sigs, "", "  ")
		if err := os.WriteFile(sigFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err = os.ReadFile(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []resultSig
	if err := json.Unmarshal(b, &sigs); err != nil {
		t.Fatal(err)
	}
	if len(sigs) != len(vs) {
		t.Fatalf("%d signatures for %d vectors (run with -update)", len(sigs), len(vs))
	}
	for i, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			r := v.Result
			r.Signer, r.Signature = sigs[i].Signer, sigs[i].Signature
			if err := hotkey.VerifyResult(v.SpecHash, &r); err != nil {
				t.Fatalf("vector signature: %v", err)
			}
			bad := r
			bad.Status = agora.ResultAccepted
			if r.Status == agora.ResultAccepted {
				bad.Status = agora.ResultRejected
			}
			if err := hotkey.VerifyResult(v.SpecHash, &bad); !errors.Is(err, hotkey.ErrBadSignature) {
				t.Fatalf("changed status: %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestVerifyResult(t *testing.T) {
	v, _ := hotkey.FromURI("//V")
	other, _ := hotkey.FromURI("//Other")
	const spec = "ab"
	signed := func() *agora.Result {
		r := &agora.Result{SubmissionID: "s", Validator: v.Address(), Status: agora.ResultRejected, Tests: map[string]string{"t": "FAILED"}}
		if err := hotkey.SignResult(v, spec, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *agora.Result)
		want   error
	}{
		{"OK", func(r *agora.Result) {}, nil},
		{"Unsigned", func(r *agora.Result) { r.Signer, r.Signature = "", "" }, hotkey.ErrUnsigned},
		{"TestChanged", func(r *agora.Result) { r.Tests["t"] = "PASSED" }, hotkey.ErrBadSignature},
		{"MetricAdded", func(r *agora.Result) { r.ObservedMetrics = map[string]float64{"m": 1} }, hotkey.ErrBadSignature},
		{"OtherSigner", func(r *agora.Result) { r.Signer = other.Address() }, hotkey.ErrBadSignature},
		{"ResignedByOther", func(r *agora.Result) {
			c := *r
			c.Validator = other.Address()
			hotkey.SignResult(other, spec, &c)
			r.Signer, r.Signature = c.Signer, c.Signature
		}, hotkey.ErrBadSignature},
		{"Truncated", func(r *agora.Result) { r.Signature = r.Signature[:20] }, hotkey.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signed()
			tc.mutate(r)
			err := hotkey.VerifyResult(spec, r)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("VerifyResult = %v, want %v", err, tc.want)
			}
		})
	}
	if err := hotkey.SignResult(v, spec, &agora.Result{Validator: other.Address()}); err == nil {
		t.Error("SignResult signed a result naming another validator")
	}
}

// FuzzVerifyResult: a result read from anywhere (the public API, a
// database someone tampered with) never panics the verifier, and only the
// genuine signature verifies.
func FuzzVerifyResult(f *testing.F) {
	v, _ := hotkey.FromURI("//V")
	r := &agora.Result{SubmissionID: "s", Validator: v.Address(), Status: agora.ResultAccepted}
	hotkey.SignResult(v, "ab", r)
	f.Add("ab", r.Signer, r.Signature, "accepted", "t", "PASSED")
	f.Add("", "", "0x", "", "", "")
	f.Add("ab", "5xyz", "zz", "rejected", "t\n1:x", "")
	f.Fuzz(func(t *testing.T, spec, signer, sig, status, test, testStatus string) {
		c := &agora.Result{SubmissionID: "s", Validator: signer, Signer: signer, Signature: sig, Status: status}
		if test != "" {
			c.Tests = map[string]string{test: testStatus}
		}
		err := hotkey.VerifyResult(spec, c)
		genuine := spec == "ab" && signer == r.Signer && sig == r.Signature && status == r.Status && test == ""
		if err == nil && !genuine {
			t.Fatalf("verified a result its signer did not sign: %+v", c)
		}
	})
}
