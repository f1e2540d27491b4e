package patch

import "strings"

// testDirs are directory names that mark test infrastructure.
var testDirs = map[string]bool{"test": true, "tests": true, "testing": true}

// testFiles are file names that are test infrastructure wherever they are.
// Besides conftest.py, pytest reads pytest.ini and tox.ini (tox also runs
// some repositories' test command), and Python imports sitecustomize.py or
// usercustomize.py from sys.path at start-up, before any test runs: each is
// a way for a patch to change how tests run without touching a test.
var testFiles = map[string]bool{
	"conftest.py":      true,
	"tests.py":         true,
	"pytest.ini":       true,
	"tox.ini":          true,
	"sitecustomize.py": true,
	"usercustomize.py": true,
}

// IsTestPath reports whether p (a slash-separated path relative to the
// repository root) is test infrastructure, which the harness keeps a model
// patch from changing. It is true for a path with a directory component
// "test", "tests" or "testing"; for a file named conftest.py, tests.py,
// pytest.ini, tox.ini, sitecustomize.py or usercustomize.py; and for a file
// named test_*.py, *_test.py or *_test.go.
//
// The judgement is by whole path components, case-sensitively, never by
// substring: "src/_pytest/x.py", "testing_utils.py" and "contest.py" are not
// test paths. It is conservative in the sense that a file under tests/ that
// is not itself a test (a fixture, data) still counts. Configuration that
// mixes test and non-test settings (setup.cfg, pyproject.toml) is not
// covered.
func IsTestPath(p string) bool {
	comps := strings.Split(p, "/")
	for _, c := range comps[:len(comps)-1] {
		if testDirs[c] {
			return true
		}
	}
	base := comps[len(comps)-1]
	switch {
	case testFiles[base]:
		return true
	case strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py"):
		return true
	case strings.HasSuffix(base, "_test.py"), strings.HasSuffix(base, "_test.go"):
		return true
	}
	return false
}
