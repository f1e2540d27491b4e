package harness

import (
	"strings"
	"testing"

	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/swebench"
)

// TestImageEnvUsesSWEbenchFacts: an instance without an eval_script, of a
// repository and version SWE-bench's harness knows, is graded in its image
// with SWE-bench's own activation and test command, not a host spec's.
func TestImageEnvUsesSWEbenchFacts(t *testing.T) {
	const testPatch = "diff --git a/tests/test_requests.py b/tests/test_requests.py\n--- a/tests/test_requests.py\n+++ b/tests/test_requests.py\n@@ -1 +1,2 @@\n import pytest\n+x = 1\n"
	inst := &swebench.Instance{InstanceID: "psf__requests-1", Repo: "psf/requests", Version: "2.27",
		BaseCommit: strings.Repeat("a", 40), TestPatch: testPatch}
	tests, err := patch.Parse([]byte(testPatch))
	if err != nil {
		t.Fatal(err)
	}
	host := &Env{Repo: "psf/requests", Versions: []string{"2.27"}, TestCmd: "python -m pytest -rA", Interpreter: "/usr/bin/python3"}
	ie, activate, err := imageEnv(inst, host, tests)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(activate, "conda activate testbed") || ie.TestCmd != "pytest -rA tests/test_requests.py" {
		t.Fatalf("activate %q test %q", activate, ie.TestCmd)
	}
	// A repository SWE-bench does not know falls back to the spec's own.
	inst.Repo, host.Repo = "agora/calc", "agora/calc"
	ie, _, err = imageEnv(inst, host, tests)
	if err != nil || !strings.HasPrefix(ie.TestCmd, "python -m pytest -rA") {
		t.Fatalf("fallback: %v %q", err, ie.TestCmd)
	}
}
