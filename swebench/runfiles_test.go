package swebench_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/swebench"
)

func TestEvalScript(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"RecordsExitCode",
			"#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\npytest -rA a.py\n: '>>>>> End Test Output'\ngit checkout abc a.py\n",
			"#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\npytest -rA a.py\nSWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\necho \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\ngit checkout abc a.py\n"},
		{"NoEndMarker", "\n\ncd /testbed\nmake test\n\n", "#!/bin/bash\nset -uxo pipefail\ncd /testbed\nmake test\n"},
		{"Empty", "", "#!/bin/bash\nset -uxo pipefail\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := swebench.EvalScript(tt.in); got != tt.want {
				t.Errorf("EvalScript=\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestMakeEvalScript(t *testing.T) {
	got := swebench.MakeEvalScript(swebench.EvalScriptSpec{
		Activate: []string{"export PATH=/env/bin:/usr/bin"}, RepoDir: "/repo", BaseCommit: "abc",
		Install: "make", ResetFiles: []string{"tests/a.py", "tests/it's.py"}, DeleteFiles: []string{"tests/new.py"},
		TestPatch: "diff --git a/tests/a.py b/tests/a.py\n", TestCommand: "pytest -rA tests/a.py",
	})
	want := `#!/bin/bash
set -uxo pipefail
export PATH=/env/bin:/usr/bin
cd /repo
git status
git show
git -c core.fileMode=false diff abc
export PATH=/env/bin:/usr/bin
make
git checkout abc tests/a.py 'tests/it'"'"'s.py'
rm -rf -- tests/new.py
git apply -v - <<'EOF_114329324912'
diff --git a/tests/a.py b/tests/a.py

EOF_114329324912
: '>>>>> Start Test Output'
pytest -rA tests/a.py
SWEBENCH_TEST_EXIT_CODE=$?
: '>>>>> End Test Output'
echo ">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE"
git checkout abc tests/a.py 'tests/it'"'"'s.py'
`
	if got != want {
		t.Errorf("MakeEvalScript=\n%s\nwant\n%s", got, want)
	}
}

func TestPySeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.00"},
		{2346 * time.Millisecond, "2.35"},
		{999 * time.Second, "999.00"},
		{1234567 * time.Millisecond, "1_234.57"},
		{1234567 * time.Second, "1_234_567.00"},
	} {
		if got := swebench.PySeconds(tt.d); got != tt.want {
			t.Errorf("PySeconds(%v)=%s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestRunMetadataEncode(t *testing.T) {
	m := swebench.NewRunMetadata("data/instances.jsonl", time.Date(2026, 1, 2, 11, 0, 0, 500, time.FixedZone("x", 3600)))
	got, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "dataset": "data/instances.jsonl",
  "split": "test",
  "task_repo": null,
  "created_at": "2026-01-02T10:00:00+00:00"
}
`
	if string(got) != want {
		t.Errorf("run.json=\n%s\nwant\n%s", got, want)
	}
}

func TestInstanceLog(t *testing.T) {
	var l swebench.InstanceLog
	at := time.Date(2026, 1, 2, 10, 0, 1, 234567891, time.UTC)
	l.Info(at, "Grading answer for %s...", "x")
	l.Error(at.Add(time.Second), "two\nlines")
	want := "2026-01-02 10:00:01,234 - INFO - Grading answer for x...\n2026-01-02 10:00:02,234 - ERROR - two\nlines\n"
	if got := string(l.Bytes()); got != want {
		t.Errorf("log=\n%s\nwant\n%s", got, want)
	}
}

// TestReportRepr compares InstanceReport.Repr with CPython's repr() of the
// same report, when /usr/bin/python3 is there.
func TestReportRepr(t *testing.T) {
	r := swebench.InstanceReport{PatchExists: true, PatchSuccessfullyApplied: true}
	id := "a__b-1"
	data, err := r.Encode(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Repr(id)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{'a__b-1': {'patch_is_None': False, 'patch_exists': True, 'patch_successfully_applied': True, 'resolved': False, 'infra_failure': False}}`
	if got != want {
		t.Errorf("Repr=%s\nwant %s", got, want)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 to compare with")
	}
	// Strings Python quotes in each way, escapes, and non-ASCII.
	tricky, _ := json.Marshal(map[string]any{"it's": []any{`say "hi"`, "both ' \"", "tab\t\x01\x7f\\", "é ü \u00a0 \u2028 😀", nil, 1}})
	for _, doc := range [][]byte{data, tricky} {
		cmd := exec.Command("/usr/bin/python3", "-c", "import json,sys; sys.stdout.write(repr(json.load(sys.stdin)))")
		cmd.Stdin = strings.NewReader(string(doc))
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := swebench.PythonRepr(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(out) {
			t.Errorf("repr=%s\nPython %s", got, out)
		}
	}
}
