package harness

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestSplitEvalScript(t *testing.T) {
	// The shape of SWE-bench's psf__requests-6028 eval_script.
	script := `#!/bin/bash
set -uxo pipefail
source /opt/miniconda3/bin/activate
conda activate testbed
cd /testbed
git config --global --add safe.directory /testbed
cd /testbed
git status
git show
git -c core.fileMode=false diff 0192aac24123735b3eaf9b08df46429bb770c283
source /opt/miniconda3/bin/activate
conda activate testbed
python -m pip install .
git checkout 0192aac24123735b3eaf9b08df46429bb770c283 tests/test_utils.py
git apply -v - <<'EOF_114329324912'
diff --git a/tests/test_utils.py b/tests/test_utils.py
: '>>>>> Start Test Output'
EOF_114329324912
: '>>>>> Start Test Output'
pytest -rA tests/test_utils.py
SWEBENCH_TEST_EXIT_CODE=$?
: '>>>>> End Test Output'
git checkout 0192aac24123735b3eaf9b08df46429bb770c283 tests/test_utils.py
`
	p, err := splitEvalScript(script)
	if err != nil {
		t.Fatal(err)
	}
	if p.test != "pytest -rA tests/test_utils.py" {
		t.Errorf("test = %q", p.test)
	}
	if p.activate != "source /opt/miniconda3/bin/activate\nconda activate testbed\n" {
		t.Errorf("activate = %q", p.activate)
	}
	want := "source /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\ngit config --global --add safe.directory /testbed\ncd /testbed\nsource /opt/miniconda3/bin/activate\nconda activate testbed\npython -m pip install ."
	if p.install != want {
		t.Errorf("install =\n%s\nwant\n%s", p.install, want)
	}
	for _, bad := range []struct{ script, want string }{
		{"pytest\n", "Start Test Output"},
		{": '>>>>> Start Test Output'\npytest\n", "End Test Output"},
		{": '>>>>> Start Test Output'\n: '>>>>> End Test Output'\n", "no test command"},
		{"git apply - <<'EOF_1'\nnever closed\n", "not closed"},
	} {
		if _, err := splitEvalScript(bad.script); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("splitEvalScript(%q) = %v, want an error with %q", bad.script, err, bad.want)
		}
	}
}

// TestSplitEvalScriptShared splits every eval_script of the shared
// instances, when they are present.
func TestSplitEvalScriptShared(t *testing.T) {
	data, err := os.ReadFile("/work/shared/swebench/instances.jsonl")
	if err != nil {
		t.Skip("no shared instances")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var inst struct {
			ID     string `json:"instance_id"`
			Script string `json:"eval_script"`
		}
		if err := jsonUnmarshal([]byte(line), &inst); err != nil {
			t.Fatal(err)
		}
		p, err := splitEvalScript(inst.Script)
		if err != nil {
			t.Errorf("%s: %v", inst.ID, err)
			continue
		}
		if !strings.Contains(p.activate, "conda activate testbed") || strings.Contains(p.install, "git apply") || strings.Contains(p.test, "\n") {
			t.Errorf("%s: %+v", inst.ID, p)
		}
	}
}

func FuzzSplitEvalScript(f *testing.F) {
	f.Add("source /opt/miniconda3/bin/activate\n: '>>>>> Start Test Output'\npytest\n: '>>>>> End Test Output'\n")
	f.Add("git apply -v - <<'EOF_1'\nx\nEOF_1\n: '>>>>> Start Test Output'\nbin/test\nX=$?\n: '>>>>> End Test Output'\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := splitEvalScript(s)
		if err != nil {
			return
		}
		if p.test == "" || strings.Contains(p.test, ">>>>> End Test Output") {
			t.Fatalf("test command %q", p.test)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestEnvImageField(t *testing.T) {
	f, err := ParseEnvFile("t", []byte(`
version: 1
environments:
  - repo: psf/requests
    versions: ["*"]
    image: docker.io/swebench/sweb.eval.x86_64.{instance_id_docker}:latest
`))
	if err != nil {
		t.Fatalf("an image environment needs no test_cmd: %v", err)
	}
	if e := f.Environments[0]; e.Image == "" {
		t.Fatal("image field lost")
	}
	for _, bad := range []string{"x/{nope}:1", "UPPER/x:1"} {
		_, err := ParseEnvFile("t", []byte("version: 1\nenvironments:\n  - repo: a/b\n    versions: [\"*\"]\n    image: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "image:") {
			t.Errorf("image %q: %v", bad, err)
		}
	}
}
