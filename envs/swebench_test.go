package envs_test

import (
	"slices"
	"testing"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/swebench"
)

// hostVerified are the SWE-bench instances whose gold patch was seen to
// resolve, and whose test patch alone was seen not to, under the embedded
// specs (README, "SWE-bench on Debian packages"): the further instances of
// this directory and the 13 first verified; and the probes of versions no
// Verified or Lite instance has (host-probes.jsonl: the release tag, one
// test file of the repository's core suite run whole, a no-op gold). The opt-in TestEvalHostSpecs in
// cmd/agora runs them.
var hostVerified = []string{"testdata/host-verified.jsonl", "../swebench/testdata/instances.jsonl", "testdata/host-probes.jsonl"}

// TestHostVerifiedHaveSpecs checks, without a sandbox, that every verified
// instance still finds its environment by an exact version, so that a spec
// edit that drops a version fails here and not in a validator.
func TestHostVerifiedHaveSpecs(t *testing.T) {
	var insts []swebench.Instance
	for _, f := range hostVerified {
		in, bad, err := swebench.LoadInstances(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Errorf("%s: %v", f, b)
		}
		insts = append(insts, in...)
	}
	if len(insts) < 30 {
		t.Fatalf("%d instances, want at least 30", len(insts))
	}
	specs, err := harness.LoadEnvSpecs(nil)
	if err != nil {
		t.Fatal(err)
	}
	repos := map[string]bool{}
	for _, in := range insts {
		repos[in.Repo] = true
		e, err := specs.Find(in.Repo, in.Version)
		if err != nil {
			t.Errorf("%s: %v", in.InstanceID, err)
			continue
		}
		if !slices.Contains(e.Versions, in.Version) {
			t.Errorf("%s: served by %s through a wildcard, want version %s listed", in.InstanceID, e.Name, in.Version)
		}
	}
	for _, r := range []string{"pallets/flask", "psf/requests", "sympy/sympy", "pylint-dev/pylint", "pytest-dev/pytest"} {
		if !repos[r] {
			t.Errorf("no verified instance of %s", r)
		}
	}
}

// TestHostSpecVersions pins which versions the embedded specs serve and,
// as important, which they refuse: a version whose code cannot run on
// bookworm's Python 3.11 and packages must get "no environment" rather
// than a run that grades the environment instead of the patch.
func TestHostSpecVersions(t *testing.T) {
	specs, err := harness.LoadEnvSpecs(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		repo, version string
		served        bool
	}{
		{"pallets/flask", "2.0", true},
		{"pallets/flask", "2.3", true},
		{"psf/requests", "0.14", false},
		{"psf/requests", "1.1", true},
		{"psf/requests", "2.27", true},
		{"sympy/sympy", "1.0", true},
		{"sympy/sympy", "1.12", true},
		{"pytest-dev/pytest", "4.3", false},
		{"pytest-dev/pytest", "4.6", true},
		{"pytest-dev/pytest", "5.1", true},
		{"pytest-dev/pytest", "5.3", true},
		{"pytest-dev/pytest", "8.1", false},
		{"pytest-dev/pytest", "7.2", true},
		{"pylint-dev/pylint", "2.15", true},
		{"pylint-dev/pylint", "2.16", true},
		{"pylint-dev/pylint", "2.17", false},
		{"pylint-dev/pylint", "3.0", false},
		{"pallets/flask", "2.2", true},
		{"pallets/flask", "3.0", false},
		{"pytest-dev/pytest", "7.4", true},
		{"pytest-dev/pytest", "9.9", false},
	}
	for _, tc := range cases {
		t.Run(tc.repo+"@"+tc.version, func(t *testing.T) {
			_, err := specs.Find(tc.repo, tc.version)
			if got := err == nil; got != tc.served {
				t.Errorf("served=%v (err %v), want %v", got, err, tc.served)
			}
		})
	}
}
