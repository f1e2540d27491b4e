package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
)

type runResult struct {
	exit           int
	output         []byte // nil when OUTPUT_JSON was not written
	stdout, stderr string
	took           time.Duration
}

// runAgent runs agent.Runner with the host's python3 (no sandbox) on the
// agent source, as a validator would inside one.
func runAgent(t *testing.T, src string, input any, env ...string) runResult {
	t.Helper()
	py, err := agent.Python()
	if err != nil {
		t.Skip("no python3:", err)
	}
	dir := t.TempDir()
	runner, agentFile, in, out := filepath.Join(dir, "runner.py"), filepath.Join(dir, "agent.py"), filepath.Join(dir, "input.json"), filepath.Join(dir, "output.json")
	inData, _ := json.Marshal(input)
	for p, b := range map[string][]byte{runner: agent.Runner, agentFile: []byte(src), in: inData} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return runRunner(t, py, runner, []string{agentFile, in, out}, out, env)
}

func runRunner(t *testing.T, py, runner string, args []string, out string, env []string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{runner}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("run: %v", err)
	}
	if b, err := os.ReadFile(out); err == nil {
		res.output = b
	}
	return res
}

func TestRunner(t *testing.T) {
	input := map[string]any{"problem_statement": "add() is wrong", "run_id": "run-7", "instance_id": "calc-1"}
	tests := []struct {
		name     string
		src      string
		env      []string
		patch    string
		kind     string
		message  string
		maxTook  time.Duration
		minTook  time.Duration
		traceSub string
	}{
		{name: "success", src: "import sys\ndef agent_main(d):\n    print('working')\n    print('noise', file=sys.stderr)\n    return {'patch': 'diff --git a/x b/x\\n# ' + d['problem_statement'] + ' ' + d['run_id'] + '\\n', 'extra': 1}\n",
			patch: "diff --git a/x b/x\n# add() is wrong run-7\n"},
		{name: "empty_patch", src: "def agent_main(d):\n    return {'patch': ''}\n", patch: ""},
		{name: "unicode_patch", src: "def agent_main(d):\n    return {'patch': 'caf\\u00e9 \\U0001F600 \\udc80'}\n", patch: "café 😀 \uFFFD"},
		{name: "str_subclass_patch", src: "class S(str):\n    def __str__(self):\n        return 'forged'\ndef agent_main(d):\n    return {'patch': S('real')}\n", patch: "real"},
		{name: "raise", src: "def helper():\n    raise ValueError('boom')\ndef agent_main(d):\n    helper()\n", kind: agora.AgentCrash, message: "ValueError: boom", traceSub: "line 2, in helper"},
		{name: "unprintable_exception", src: "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\ndef agent_main(d):\n    raise E()\n", kind: agora.AgentCrash, message: "E: <unprintable E>"},
		{name: "exit", src: "import sys\ndef agent_main(d):\n    sys.exit(3)\n", kind: agora.AgentCrash, message: "agent called exit(3)"},
		{name: "timeout", src: "import time\ndef agent_main(d):\n    time.sleep(30)\n    return {'patch': 'late'}\n", env: []string{"AGENT_TIMEOUT=1"},
			kind: agora.AgentTimeout, message: "AGENT_TIMEOUT=1s", minTook: time.Second, maxTook: 10 * time.Second, traceSub: "time.sleep(30)"},
		{name: "timeout_caught_by_except_exception", src: "import time\ndef agent_main(d):\n    try:\n        time.sleep(30)\n    except Exception:\n        return {'patch': 'swallowed'}\n", env: []string{"AGENT_TIMEOUT=1"},
			kind: agora.AgentTimeout, maxTook: 10 * time.Second},
		{name: "timeout_ignored", src: "import time\ndef agent_main(d):\n    while True:\n        try:\n            time.sleep(30)\n        except BaseException:\n            pass\n", env: []string{"AGENT_TIMEOUT=1"},
			kind: agora.AgentTimeout, message: "ignored the timeout", minTook: 5 * time.Second, maxTook: 20 * time.Second},
		{name: "timeout_at_import", src: "while True:\n    pass\ndef agent_main(d):\n    return {'patch': ''}\n", env: []string{"AGENT_TIMEOUT=1"},
			kind: agora.AgentTimeout, maxTook: 10 * time.Second},
		{name: "fractional_timeout", src: "import time\ndef agent_main(d):\n    time.sleep(30)\n", env: []string{"AGENT_TIMEOUT=0.3"},
			kind: agora.AgentTimeout, maxTook: 5 * time.Second},
		{name: "returns_list", src: "def agent_main(d):\n    return ['diff']\n", kind: agora.AgentMalformed, message: "returned list, not a str or a dict"},
		{name: "returns_str", src: "def agent_main(d):\n    return 'diff --git a/x b/x\\n'\n", patch: "diff --git a/x b/x\n"},
		{name: "returns_str_subclass", src: "class S(str):\n    def __str__(self):\n        return 'forged'\ndef agent_main(d):\n    return S('real')\n", patch: "real"},
		{name: "dist_packages_on_path", src: "import os, sys\nP = '/usr/lib/python3/dist-packages'\ndef agent_main(d):\n    return str(P in sys.path or not os.path.isdir(P))\n", patch: "True"},
		{name: "returns_none", src: "def agent_main(d):\n    pass\n", kind: agora.AgentMalformed, message: "returned NoneType"},
		{name: "patch_is_int", src: "def agent_main(d):\n    return {'patch': 5}\n", kind: agora.AgentMalformed, message: "of type int"},
		{name: "no_patch_key", src: "def agent_main(d):\n    return {'diff': ''}\n", kind: agora.AgentMalformed, message: "no \"patch\" key"},
		{name: "hostile_dict", src: "class D(dict):\n    def __getitem__(self, k):\n        raise KeyError(k)\n    def get(self, k, d=None):\n        return 5\ndef agent_main(d):\n    return D(patch='ok')\n", patch: "ok"},
		{name: "fake_dict", src: "class F:\n    @property\n    def __class__(self):\n        return dict\ndef agent_main(d):\n    return F()\n", kind: agora.AgentMalformed, message: "could not be read"},
		{name: "syntax_error", src: "def agent_main(d)\n    return {}\n", kind: agora.AgentCrash, message: "SyntaxError"},
		{name: "no_agent_main", src: "def main(d):\n    return {'patch': ''}\n", kind: agora.AgentMalformed, message: "no callable agent_main"},
		{name: "agent_main_not_callable", src: "agent_main = 5\n", kind: agora.AgentMalformed, message: "no callable agent_main"},
		{name: "import_error", src: "import numpy_not_installed_here\ndef agent_main(d):\n    return {}\n", kind: agora.AgentCrash, message: "ModuleNotFoundError"},
		{name: "thread_left_running", src: "import threading, time\ndef agent_main(d):\n    threading.Thread(target=time.sleep, args=(60,)).start()\n    return {'patch': 'p'}\n",
			patch: "p", maxTook: 10 * time.Second},
		{name: "huge_traceback_capped", src: "def agent_main(d):\n    raise ValueError('x' * 100000)\n", kind: agora.AgentCrash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runAgent(t, tt.src, input, tt.env...)
			if res.exit != 0 || res.output == nil {
				t.Fatalf("exit %d, output %q, stderr %s", res.exit, res.output, res.stderr)
			}
			patch, runErr, err := agent.ParseRunOutput(res.output)
			if err != nil {
				t.Fatalf("ParseRunOutput(%s): %v", res.output, err)
			}
			if tt.kind == "" {
				if runErr != nil || patch != tt.patch {
					t.Fatalf("patch %q, error %+v; want patch %q", patch, runErr, tt.patch)
				}
			} else {
				if runErr == nil || runErr.Kind != tt.kind || !strings.Contains(runErr.Message, tt.message) || !strings.Contains(runErr.Traceback, tt.traceSub) {
					t.Fatalf("error %+v, want kind %s message ~%q traceback ~%q", runErr, tt.kind, tt.message, tt.traceSub)
				}
				if len(runErr.Message) > agent.MaxErrorMessage+32 || len(runErr.Traceback) > agent.MaxErrorTraceback+32 {
					t.Fatalf("texts not capped: %d, %d", len(runErr.Message), len(runErr.Traceback))
				}
			}
			if tt.maxTook > 0 && res.took > tt.maxTook || res.took < tt.minTook {
				t.Fatalf("took %v, want in [%v, %v]", res.took, tt.minTook, tt.maxTook)
			}
		})
	}
}

func TestRunnerFailures(t *testing.T) {
	py, err := agent.Python()
	if err != nil {
		t.Skip("no python3:", err)
	}
	dir := t.TempDir()
	runner := filepath.Join(dir, "runner.py")
	agentFile := filepath.Join(dir, "agent.py")
	for p, b := range map[string]string{runner: string(agent.Runner), agentFile: okMain,
		filepath.Join(dir, "good.json"): `{"problem_statement": "x"}`, filepath.Join(dir, "bad.json"): `{"problem`, filepath.Join(dir, "list.json"): `[1]`} {
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.json")
	for _, tc := range []struct {
		name string
		args []string
		out  string
		exit int
	}{
		{"usage", []string{agentFile}, out, 2},
		{"missing_input", []string{agentFile, filepath.Join(dir, "nope.json"), out}, out, 2},
		{"invalid_input", []string{agentFile, filepath.Join(dir, "bad.json"), out}, out, 2},
		{"input_not_object", []string{agentFile, filepath.Join(dir, "list.json"), out}, out, 2},
		{"unwritable_output", []string{agentFile, filepath.Join(dir, "good.json"), filepath.Join(dir, "no", "such", "dir", "out.json")}, filepath.Join(dir, "no", "such", "dir", "out.json"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runRunner(t, py, runner, tc.args, tc.out, nil)
			if res.exit != tc.exit || res.output != nil {
				t.Fatalf("exit %d (want %d), output %q, stderr %s", res.exit, tc.exit, res.output, res.stderr)
			}
		})
	}
}

func TestParseRunOutput(t *testing.T) {
	long := strings.Repeat("é", agent.MaxErrorTraceback)
	tests := []struct {
		name  string
		data  string
		patch string
		kind  string
		code  string
	}{
		{"patch", `{"patch": "diff --git a/x b/x\n"}`, "diff --git a/x b/x\n", "", ""},
		{"empty_patch", `{"patch": ""}`, "", "", ""},
		{"crash", `{"error": {"kind": "crash", "message": "ValueError: x", "traceback": "tb"}}`, "", agora.AgentCrash, ""},
		{"timeout_no_traceback", `{"error": {"kind": "timeout", "message": "late"}}`, "", agora.AgentTimeout, ""},
		{"malformed", `{"error": {"kind": "malformed", "message": "list"}}`, "", agora.AgentMalformed, ""},
		{"long_texts", `{"error": {"kind": "crash", "message": "` + long + `", "traceback": "` + long + `"}}`, "", agora.AgentCrash, ""},
		{"patch_too_big", `{"patch": "` + strings.Repeat("a", agent.MaxPatchBytes+1) + `"}`, "", agora.AgentMalformed, ""},
		{"empty", ``, "", "", agora.EUNPROCESSABLE},
		{"not_json", `patch: x`, "", "", agora.EUNPROCESSABLE},
		{"array", `[]`, "", "", agora.EUNPROCESSABLE},
		{"neither", `{"result": 1}`, "", "", agora.EUNPROCESSABLE},
		{"null_patch", `{"patch": null}`, "", "", agora.EUNPROCESSABLE},
		{"both", `{"patch": "", "error": {"kind": "crash"}}`, "", "", agora.EUNPROCESSABLE},
		{"patch_not_string", `{"patch": 5}`, "", "", agora.EUNPROCESSABLE},
		{"unknown_kind", `{"error": {"kind": "oops", "message": ""}}`, "", "", agora.EUNPROCESSABLE},
		{"error_not_object", `{"error": "boom"}`, "", "", agora.EUNPROCESSABLE},
		{"trailing", `{"patch": ""} {"patch": "x"}`, "", "", agora.EUNPROCESSABLE},
		{"trailing_brace", `{"patch": ""}}`, "", "", agora.EUNPROCESSABLE},
		{"too_big", `{"patch": "` + strings.Repeat("a", agent.MaxOutputBytes) + `"}`, "", "", agora.EUNPROCESSABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patch, runErr, err := agent.ParseRunOutput([]byte(tt.data))
			if agora.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if tt.code != "" {
				return
			}
			if patch != tt.patch {
				t.Fatalf("patch = %q", patch)
			}
			if (runErr == nil) != (tt.kind == "") || runErr != nil && runErr.Kind != tt.kind {
				t.Fatalf("runErr = %+v, want kind %q", runErr, tt.kind)
			}
			if runErr != nil && (len(runErr.Message) > agent.MaxErrorMessage+32 || len(runErr.Traceback) > agent.MaxErrorTraceback+32 || !utf8.ValidString(runErr.Traceback)) {
				t.Fatalf("texts not capped or not UTF-8: %d %d", len(runErr.Message), len(runErr.Traceback))
			}
		})
	}
}

func FuzzParseRunOutput(f *testing.F) {
	f.Add([]byte(`{"patch": "diff"}`))
	f.Add([]byte(`{"error": {"kind": "crash", "message": "m", "traceback": "t"}}`))
	f.Add([]byte(`{"error": {"kind": "timeout", "message": "\ud800\u00e9"}}`))
	f.Add([]byte(`{"PATCH": "x", "Error": null}`))
	f.Add([]byte("{\"patch\": \"\xff\xfe\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		patch, runErr, err := agent.ParseRunOutput(data)
		switch {
		case err != nil:
			if agora.ErrorCode(err) != agora.EUNPROCESSABLE || patch != "" || runErr != nil {
				t.Fatalf("error %v with patch %q runErr %+v", err, patch, runErr)
			}
		case runErr != nil:
			if patch != "" {
				t.Fatal("both a patch and a RunError")
			}
			switch runErr.Kind {
			case agora.AgentCrash, agora.AgentTimeout, agora.AgentMalformed:
			default:
				t.Fatalf("kind %q", runErr.Kind)
			}
			if len(runErr.Message) > agent.MaxErrorMessage+32 || len(runErr.Traceback) > agent.MaxErrorTraceback+32 ||
				!utf8.ValidString(runErr.Message) || !utf8.ValidString(runErr.Traceback) {
				t.Fatalf("texts not capped or not UTF-8")
			}
		default:
			if len(patch) > agent.MaxPatchBytes {
				t.Fatalf("patch of %d bytes", len(patch))
			}
		}
	})
}
