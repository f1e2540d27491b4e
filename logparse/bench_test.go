package logparse_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agoranet/agora/logparse"
)

// syntheticPytestLog builds a pytest -rA log for n tests: a progress
// section, a failure traceback for every tenth test and the short summary.
func syntheticPytestLog(n int) string {
	var b strings.Builder
	b.WriteString("============================= test session starts ==============================\n")
	b.WriteString("platform linux -- Python 3.9.19, pytest-7.4.0, pluggy-1.5.0\nrootdir: /testbed\n")
	fmt.Fprintf(&b, "collected %d items\n\n", n)
	for i := 0; i < n; i += 50 {
		fmt.Fprintf(&b, "tests/test_mod%d.py %s [%3d%%]\n", i/50, strings.Repeat(".", 50), i*100/n)
	}
	b.WriteString("\n=================================== FAILURES ===================================\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&b, "________________________________ test_case_%d _________________________________\n\n", i)
		fmt.Fprintf(&b, "    def test_case_%d():\n>       assert compute(%d) == %d\nE       assert 0 == %d\n\ntests/test_mod%d.py:12: AssertionError\n", i, i, i, i, i/50)
	}
	b.WriteString("=========================== short test summary info ============================\n")
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "FAILED tests/test_mod%d.py::test_case_%d - assert 0 == %d\n", i/50, i, i)
		} else {
			fmt.Fprintf(&b, "PASSED tests/test_mod%d.py::test_case[param-%d-/tmp/x/y%d.py]\n", i/50, i, i)
		}
	}
	fmt.Fprintf(&b, "======================== %d failed, %d passed in 12.34s =========================\n", n/10, n-n/10)
	return b.String()
}

func BenchmarkPytest(b *testing.B) {
	log := syntheticPytestLog(20000)
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		if m := logparse.ParsePytest(log).Map(); len(m) != 20000 {
			b.Fatalf("parsed %d tests, want 20000", len(m))
		}
	}
}
