package validator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// Audit outcomes, worst last: a bad signature outweighs a disagreement,
// which outweighs agreement.
const (
	AuditAgree        = "agreement"
	AuditDisagree     = "disagreement"
	AuditBadSignature = "bad signature"
)

// AuditInput is a public replay record (what GET /api/v1/replays serves),
// the task it belongs to, and whom to trust.
type AuditInput struct {
	Task       *agora.Task
	Submission *agora.Submission
	SpecHash   string
	// Spec is the spec's bytes as served; Elided names fields whose
	// values were left out (their hash then cannot match).
	Spec    []byte
	Elided  []string
	Results []*agora.Result
	// Trusted, when set, are the only validator hotkeys whose signatures
	// count; a result signed by another is a bad signature.
	Trusted []string
	// Tolerance is the relative difference two metric readings may have
	// and still agree (0: the task's tolerance, else
	// agora.DefaultTolerance).
	Tolerance float64
}

// Audit is what re-running a verdict found.
type Audit struct {
	// Outcome is AuditAgree, AuditDisagree or AuditBadSignature.
	Outcome string
	// SpecHashOK says the spec's bytes hash to SpecHash.
	SpecHashOK bool
	// Regraded says the spec was an agent run: the agent is not run
	// again (its model calls are not reproducible); the patch it returned,
	// as the first result reports it, is graded instead.
	Regraded bool
	// Local is this machine's result.
	Local *agora.Result
	// Results checks each stored result.
	Results []ResultAudit
	// Decided is the verdict status the stored results give
	// (agora.Decide); the submission's stored status must equal it.
	Decided string
	// Problems lists what is wrong beyond the per-result checks: a spec
	// hash mismatch, a stored verdict its results do not give.
	Problems []string
}

// ResultAudit is one stored result, checked.
type ResultAudit struct {
	Result *agora.Result
	// Signature is nil for a good signature, hotkey.ErrUnsigned, or why
	// it is bad.
	Signature error
	// Differences are where it disagrees with the local run.
	Differences []string
}

// RunAudit re-runs in.Spec with rep and checks the stored results against
// the local run and their signatures. It fails only when the spec cannot
// be read or is withheld; everything found is in the Audit.
func RunAudit(ctx context.Context, rep Replayer, in AuditInput) (*Audit, error) {
	a := &Audit{SpecHashOK: agora.SHA256Hex(in.Spec) == in.SpecHash}
	if len(in.Spec) == 0 {
		return nil, fmt.Errorf("replay spec %s: not served", in.SpecHash)
	}
	var spec agora.ReplaySpec
	if err := json.Unmarshal(in.Spec, &spec); err != nil {
		return nil, fmt.Errorf("replay spec %s: %w", in.SpecHash, err)
	}
	if !a.SpecHashOK && len(in.Elided) == 0 {
		a.Problems = append(a.Problems, fmt.Sprintf("the served spec hashes to %s, not %s", agora.SHA256Hex(in.Spec), in.SpecHash))
	}
	if spec.Agent != nil {
		a.Regraded = true
		spec.Agent = nil
		spec.Patch = ""
		for _, r := range in.Results {
			if r.Agent != nil && r.Agent.Patch != "" {
				spec.Patch = r.Agent.Patch
				break
			}
		}
	}
	a.Local, _ = rep.Replay(ctx, &spec)

	tol := in.Tolerance
	if tol <= 0 && in.Task != nil {
		tol = in.Task.Tolerance
	}
	if tol <= 0 {
		tol = agora.DefaultTolerance
	}
	trusted := map[string]bool{}
	for _, t := range in.Trusted {
		trusted[t] = true
	}
	bad, differ := false, false
	for _, r := range in.Results {
		ra := ResultAudit{Result: r, Signature: hotkey.VerifyResult(in.SpecHash, r)}
		if ra.Signature == nil && len(trusted) > 0 && !trusted[r.Signer] {
			ra.Signature = fmt.Errorf("signer %s is not a trusted validator: %w", r.Signer, hotkey.ErrBadSignature)
		}
		if ra.Signature != nil {
			bad = true
		}
		ra.Differences = Differences(r, a.Local, tol)
		if len(ra.Differences) > 0 {
			differ = true
		}
		a.Results = append(a.Results, ra)
	}
	if in.Task != nil && in.Submission != nil {
		var validators []*agora.Result
		for _, r := range in.Results {
			if !r.Peer {
				validators = append(validators, r)
			}
		}
		if len(validators) > 0 {
			a.Decided = agora.Decide(in.Task, validators, in.Submission.UpdatedAt).Status
			if in.Submission.Status != a.Decided {
				a.Problems = append(a.Problems, fmt.Sprintf("the stored verdict is %s, but its results give %s", in.Submission.Status, a.Decided))
			}
		}
	}
	if len(in.Results) == 0 {
		a.Problems = append(a.Problems, "no stored results to compare with")
	}
	switch {
	case bad:
		a.Outcome = AuditBadSignature
	case differ || len(a.Problems) > 0:
		a.Outcome = AuditDisagree
	default:
		a.Outcome = AuditAgree
	}
	return a, nil
}

// MaxDifferences bounds the differences listed per result.
const MaxDifferences = 8

// Differences lists where a stored result and a re-run disagree: the
// status, a test both report with another status, a test only one reports,
// a metric further apart than tol (relative). An error on either side is
// a difference only in its status: an error has no tests to compare.
func Differences(stored, local *agora.Result, tol float64) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if stored.Status != local.Status {
		add("status: stored %s, replay %s", stored.Status, local.Status)
	}
	if stored.Status == agora.ResultError || local.Status == agora.ResultError {
		return out
	}
	names := slices.Sorted(maps.Keys(stored.Tests))
	for _, k := range slices.Sorted(maps.Keys(local.Tests)) {
		if _, ok := stored.Tests[k]; !ok {
			names = append(names, k)
		}
	}
	n := 0
	for _, k := range names {
		s, sok := stored.Tests[k]
		l, lok := local.Tests[k]
		if sok && lok && s == l {
			continue
		}
		if n++; n > MaxDifferences {
			continue
		}
		switch {
		case !lok:
			add("test %s: stored %s, replay did not run it", k, s)
		case !sok:
			add("test %s: not stored, replay %s", k, l)
		default:
			add("test %s: stored %s, replay %s", k, s, l)
		}
	}
	if n > MaxDifferences {
		add("… and %d more tests", n-MaxDifferences)
	}
	for _, k := range slices.Sorted(maps.Keys(stored.ObservedMetrics)) {
		s := stored.ObservedMetrics[k]
		l, ok := local.ObservedMetrics[k]
		switch {
		case !ok:
			add("metric %s: stored %g, replay has none", k, s)
		case math.Abs(s-l) > tol*math.Max(math.Abs(s), 1e-12) && math.Abs(s-l) > 1e-12:
			add("metric %s: stored %g, replay %g (tolerance %g)", k, s, l, tol)
		}
	}
	return out
}

// IsUnsigned reports whether a ResultAudit's signature error says the
// result carries none.
func IsUnsigned(err error) bool { return errors.Is(err, hotkey.ErrUnsigned) }
