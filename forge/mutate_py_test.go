package forge

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonMutants runs the embedded Python mutator on the host's
// /usr/bin/python3 over files in dir (the sandbox runs it the same way,
// with the environment's interpreter).
func pythonMutants(t *testing.T, dir string, files ...string) []Mutant {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	req, _ := json.Marshal(map[string]any{"files": files})
	cmd := exec.Command(py, "-c", string(mutatePy))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mutator: %v\n%s", err, out)
	}
	ms, err := parseMutants(out)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestPythonMutants checks each operator's mutants of a small module,
// and that every mutant compiles.
func TestPythonMutants(t *testing.T) {
	src, err := os.ReadFile("testdata/synth/sample.py")
	if err != nil {
		t.Fatal(err)
	}
	ms := pythonMutants(t, "testdata/synth", "sample.py")
	type want struct{ op, fn, from, to string }
	for _, w := range []want{
		{OpFlipComparison, "clamp", "x < lo", "x >= lo"},
		{OpFlipComparison, "clamp", "x <= hi", "x > hi"},
		{OpFlipComparison, "Bag.has", "k in self", "k not in self"},
		{OpFlipComparison, "Bag.has", "k is None", "k is not None"},
		{OpOffByOne, "Bag.first", "items[n - 1] == 0", "items[n - 1] == 1"},
		{OpInvertCondition, "clamp", "if x < lo:", "if not (x < lo):"},
		{OpInvertCondition, "clamp", "if not x <= hi:", "if x <= hi:"},
		{OpRemoveEarlyReturn, "clamp", "    if x < lo:\n        return lo\n", ""},
		{OpSwapArguments, "Bag.first", "pick(items, n)", "pick(n, items)"},
		{OpDropStatement, "Bag.first", "        self.seen += 1\n", ""},
		{OpDropStatement, "clamp", "    return x\n", ""},
	} {
		found := false
		for _, m := range ms {
			if m.Operator != w.op || m.Func != w.fn {
				continue
			}
			got, err := m.Apply(src)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Replace(string(src), w.from, w.to, 1) == string(got) {
				found = true
				if m.File != "sample.py" || m.Line < 4 {
					t.Errorf("%s target %s", w.op, m.Target())
				}
			}
		}
		if !found {
			t.Errorf("no %s mutant of %s turning %q into %q", w.op, w.fn, w.from, w.to)
		}
	}
	for _, m := range ms {
		if m.Operator == OpDropStatement && strings.Contains(string(src[m.Edits[0].Start:m.Edits[0].End]), `"""`) {
			t.Errorf("dropped a docstring: %+v", m)
		}
	}
}

// TestPythonMutantsSkipBadFiles: a file that does not parse, or is not
// UTF-8, or is missing, gives no mutants and no error.
func TestPythonMutantsSkipBadFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.py"), []byte("def f(:\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "latin.py"), []byte("def f(x):\n    return x < 1  # \xe9\n"), 0o644)
	if ms := pythonMutants(t, dir, "bad.py", "latin.py", "missing.py"); len(ms) != 0 {
		t.Fatalf("mutants %+v", ms)
	}
}

func TestParseMutants(t *testing.T) {
	for _, tc := range []struct {
		out string
		n   int
		ok  bool
	}{
		{"----- agora mutants begin -----\n[]\n----- agora mutants end -----\n", 0, true},
		{"noise\n----- agora mutants begin -----\n[{\"file\":\"a.py\",\"func\":\"f\",\"line\":2,\"operator\":\"off_by_one\",\"edits\":[{\"start\":1,\"end\":2,\"text\":\"0\"}]}]\n----- agora mutants end -----\n", 1, true},
		{"Traceback (most recent call last):\n", 0, false},
		{"----- agora mutants begin -----\n[{\n----- agora mutants end -----\n", 0, false},
	} {
		ms, err := parseMutants([]byte(tc.out))
		if (err == nil) != tc.ok || len(ms) != tc.n {
			t.Errorf("parseMutants(%q) = %d, %v", tc.out, len(ms), err)
		}
	}
}

// FuzzParseMutants: the mutator's output comes out of the sandbox; any
// bytes give mutants or an error, never a panic.
func FuzzParseMutants(f *testing.F) {
	f.Add([]byte("----- agora mutants begin -----\n[]\n----- agora mutants end -----\n"))
	f.Add([]byte("----- agora mutants begin -----\n----- agora mutants end -----"))
	f.Fuzz(func(t *testing.T, out []byte) {
		ms, err := parseMutants(out)
		if err == nil {
			for _, m := range ms {
				m.Apply([]byte("some source text"))
			}
		}
	})
}

// FuzzFailureLines: test logs come out of the sandbox too.
func FuzzFailureLines(f *testing.F) {
	f.Add([]byte("E   assert 1 == 2\nFAILED t.py::x - assert 1 == 2\n"), "t.py::x")
	f.Add([]byte(`{"Action":"output","Test":"TestX","Output":"    x_test.go:3: bad\n"}`), "TestX")
	f.Fuzz(func(t *testing.T, log []byte, id string) {
		for _, l := range failureLines(log, []string{id}) {
			if len(l) > 204 || strings.Contains(l, "\n") {
				t.Fatalf("line %q", l)
			}
		}
	})
}

func TestFailureLines(t *testing.T) {
	log := strings.Join([]string{
		"_____ test_other _____",
		"E   AssertionError: unrelated",
		"_____ TestStreaming.test_keep _____",
		"E   TypeError: attribute name must be string",
		"E   TypeError: attribute name must be string",
		// pytest pads a long header with one underscore a side.
		"_ ERROR at setup of TestStreaming.test_with_a_very_long_name[and-params] _",
		"E   fixture 'mocker' not found",
		"_____ test_x[1-2] _____",
		"E   assert 1 == 2",
		"FAILED tests/t.py::test_x[1-2] - assert 1 == 2",
	}, "\n")
	got := failureLines([]byte(log), []string{"tests/t.py::TestStreaming::test_keep", "tests/t.py::test_x[1-2]"})
	want := []string{"TypeError: attribute name must be string", "assert 1 == 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("pytest: %q, want %q", got, want)
	}
	gojson := `{"Action":"output","Test":"TestA","Output":"    a_test.go:9: Clamp(15, 0, 10) = 0, want 10\n"}` + "\n" +
		`{"Action":"output","Test":"TestB","Output":"    b_test.go:3: other\n"}`
	if got := failureLines([]byte(gojson), []string{"TestA"}); len(got) != 1 || got[0] != "a_test.go:9: Clamp(15, 0, 10) = 0, want 10" {
		t.Errorf("go test -json: %q", got)
	}
}

func TestTestsStatement(t *testing.T) {
	gold := "--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1 +1 @@\n-    return sum(values) // len(values)\n+    return sum(values) / len(values)\n"
	val := &Validation{
		FailToPass: []string{"tests/test_ops.py::test_mean"},
		// An E line quoting the solution's line is not repeated.
		BeforeLog: []byte("_____ test_mean _____\nE   assert 1 == 1.5\nE   return sum(values) / len(values)\n"),
	}
	for _, tc := range []struct {
		m    Mutant
		want string
	}{
		{Mutant{File: "src/calc/ops.py", Func: "Stats.mean"}, "After a recent change, `calc.ops.Stats.mean` misbehaves: the test `tests/test_ops.py::test_mean` fails."},
		{Mutant{File: "x/mathx.go", Func: "Min"}, "After a recent change, `Min` (in `x/mathx.go`) misbehaves: the test `tests/test_ops.py::test_mean` fails."},
	} {
		got := testsStatement(&tc.m, val, gold)
		if !strings.HasPrefix(got, tc.want+"\n") || strings.Contains(got, "sum(values)") || !strings.Contains(got, "assert 1 == 1.5") {
			t.Errorf("statement:\n%s", got)
		}
	}
}
