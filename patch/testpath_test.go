package patch_test

import (
	"testing"

	"github.com/agoranet/agora/patch"
)

func TestIsTestPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"conftest.py", true},
		{"src/pkg/conftest.py", true},
		{"tests/test_x.py", true},
		{"tests/data/input.json", true},
		{"pkg/test/helpers.py", true},
		{"testing/logging/test_fixture.py", true},
		{"sympy/core/tests/test_basic.py", true},
		{"test_x.py", true},
		{"pkg/test_x.py", true},
		{"pkg/x_test.py", true},
		{"pkg/tests.py", true},
		{"cmd/x_test.go", true},
		{"pytest.ini", true},
		{"tox.ini", true},
		{"src/sitecustomize.py", true},
		{"usercustomize.py", true},
		// Component-based, not substring: none of these is a test path.
		{"src/_pytest/logging.py", false},
		{"src/_pytest/mark/structures.py", false},
		{"pytest/x.py", false},
		{"testing_utils.py", false},
		{"tests", false},
		{"contest.py", false},
		{"attest/x.py", false},
		{"latest/x.py", false},
		{"test_x.txt", false},
		{"x_test.rs", false},
		{"pkg/Tests/x.py", false},
		{"docs/testing.rst", false},
		{"requests/utils.py", false},
	}
	for _, tt := range tests {
		if got := patch.IsTestPath(tt.path); got != tt.want {
			t.Errorf("IsTestPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// The harness neutralizes model-patch edits to test paths; if a gold patch
// touched one, gold would stop resolving its own instance.
func TestGoldPatchesTouchNoTestPath(t *testing.T) {
	for _, in := range instances(t) {
		t.Run(in.InstanceID+"/gold_touches_no_test_path", func(t *testing.T) {
			for _, f := range mustParse(t, in.Patch).Files {
				for _, p := range f.Names() {
					if patch.IsTestPath(p) {
						t.Errorf("gold patch touches test path %q", p)
					}
				}
			}
		})
		t.Run(in.InstanceID+"/test_patch_touches_test_paths", func(t *testing.T) {
			for _, p := range mustParse(t, in.TestPatch).Paths() {
				if !patch.IsTestPath(p) {
					t.Errorf("test patch touches non-test path %q", p)
				}
			}
		})
	}
}
