package agent_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
)

func needPython(t testing.TB) {
	t.Helper()
	if _, err := agent.Python(); err != nil {
		t.Skip("no python3:", err)
	}
}

const okMain = "def agent_main(input_dict):\n    return {\"patch\": \"\"}\n"

func TestCheck(t *testing.T) {
	needPython(t)
	b64 := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", 300)
	hexBlob := strings.Repeat("deadbeef0123456789", 500)
	prose := strings.Repeat("You are a careful engineer. Fix the bug, keep the diff small.\n", 200)
	tests := []struct {
		name  string
		code  string
		allow []string
		rule  string // "" means the file passes
		line  int
	}{
		{"minimal", okMain, nil, "", 0},
		{"stdlib_imports", "import os, json\nimport xml.etree.ElementTree as ET\nfrom urllib.request import urlopen\nfrom __future__ import annotations\n" + okMain, nil, "", 0},
		{"allowlisted_import", "import requests\nfrom requests.adapters import HTTPAdapter\n" + okMain, []string{"requests"}, "", 0},
		{"allowlist_subtree_only", "import google.protobuf\nimport google.auth\n" + okMain, []string{"google.protobuf"}, agent.RuleImport, 2},
		{"extra_params_with_defaults", "def agent_main(input_dict, repo='/repo', *rest, debug=False, **kw):\n    return {}\n", nil, "", 0},
		{"varargs_only", "def agent_main(*args):\n    return {}\n", nil, "", 0},
		{"re_compile_is_not_the_builtin", "from re import compile\nimport re\nP = compile('x')\nQ = re.compile('y')\n" + okMain, nil, "", 0},
		{"decoders_allowed", "import base64, zlib, codecs\nx = zlib.decompress(base64.b64decode('eJwDAAAAAAE='))\ny = codecs.decode('uryyb', 'rot13')\n" + okMain, nil, "", 0},
		{"literal_dynamic_import", "import importlib\nj = importlib.import_module('json')\nos_ = __import__('os')\n" + okMain, nil, "", 0},
		{"long_prose_literal", "PROMPT = '''" + prose + "'''\n" + okMain, nil, "", 0},
		{"pickle_dumps_allowed", "import pickle\nb = pickle.dumps(1)\n" + okMain, nil, "", 0},
		{"bom", "\ufeff" + okMain, nil, "", 0},

		{"encoding_cookie", "# -*- coding: latin-1 -*-\n" + okMain, nil, agent.RuleEncoding, 1},
		{"utf7_cookie", "#!/usr/bin/env python3\n# coding: utf-7\n" + okMain, nil, agent.RuleEncoding, 2},
		{"syntax", "x = 1\ndef agent_main(input_dict)\n    return {}\n", nil, agent.RuleSyntax, 2},
		{"python2", "print 'hi'\n" + okMain, nil, agent.RuleSyntax, 1},
		{"nul_byte", "x = 1\x00\n" + okMain, nil, agent.RuleSyntax, 0},
		{"no_agent_main", "def main(input_dict):\n    return {}\n", nil, agent.RuleAgentMain, 0},
		{"nested_agent_main", "class A:\n    def agent_main(self, input_dict):\n        return {}\n", nil, agent.RuleAgentMain, 0},
		{"async_agent_main", "async def agent_main(input_dict):\n    return {}\n", nil, agent.RuleAgentMain, 1},
		{"no_params", "def agent_main():\n    return {}\n", nil, agent.RuleAgentMain, 1},
		{"two_required", "def agent_main(a, b):\n    return {}\n", nil, agent.RuleAgentMain, 1},
		{"required_kwonly", "def agent_main(a, *, b):\n    return {}\n", nil, agent.RuleAgentMain, 1},
		{"rebound", okMain + "agent_main = None\n", nil, agent.RuleAgentMain, 3},
		{"non_stdlib", "import numpy as np\n" + okMain, nil, agent.RuleImport, 1},
		{"non_stdlib_from", "x = 1\nfrom requests import get\n" + okMain, nil, agent.RuleImport, 2},
		{"relative", "from . import helpers\n" + okMain, nil, agent.RuleImport, 1},
		{"relative_named", "from .helpers import x\n" + okMain, nil, agent.RuleImport, 1},
		{"dunder_import_variable", "m = 'os'\nmod = __import__(m)\n" + okMain, nil, agent.RuleDynamicImport, 2},
		{"dunder_import_non_stdlib", "mod = __import__('numpy')\n" + okMain, nil, agent.RuleImport, 1},
		{"import_module_variable", "import importlib\nn = 'json'\nm = importlib.import_module(n)\n" + okMain, nil, agent.RuleDynamicImport, 3},
		{"import_module_aliased", "from importlib import import_module as im\nm = im(''.join(['o', 's']))\n" + okMain, nil, agent.RuleDynamicImport, 2},
		{"import_module_relative", "import importlib\nm = importlib.import_module('.x', 'pkg')\n" + okMain, nil, agent.RuleDynamicImport, 2},
		{"dunder_import_reference", "imp = __import__\n" + okMain, nil, agent.RuleDynamicImport, 1},
		{"exec", okMain + "exec('print(1)')\n", nil, agent.RuleExec, 3},
		{"eval", "x = eval('1+1')\n" + okMain, nil, agent.RuleExec, 1},
		{"compile_builtin", "c = compile('1', 'f', 'eval')\n" + okMain, nil, agent.RuleExec, 1},
		{"exec_reference", "run = exec\n" + okMain, nil, agent.RuleExec, 1},
		{"builtins_exec", "import builtins\nbuiltins.exec('1')\n" + okMain, nil, agent.RuleExec, 2},
		{"builtins_rebound", "import builtins\nb = builtins\nb.eval('1')\n" + okMain, nil, agent.RuleExec, 3},
		{"from_builtins_exec", "from builtins import exec as run\nrun('1')\n" + okMain, nil, agent.RuleExec, 2},
		{"getattr_literal", "import builtins\nf = getattr(builtins, 'exec')\n" + okMain, nil, agent.RuleExec, 2},
		{"getattr_computed_on_builtins", "import builtins\nf = getattr(builtins, 'ex' + 'ec')\n" + okMain, nil, agent.RuleExec, 2},
		{"dunder_builtins", "b = __builtins__\n" + okMain, nil, agent.RuleExec, 1},
		{"globals_subscript", "b = globals()['__builtins__']\n" + okMain, nil, agent.RuleExec, 1},
		{"runpy", "import runpy\n" + okMain, nil, agent.RuleExec, 1},
		{"timeit_string", "import timeit\ntimeit.timeit('x=1', number=1)\n" + okMain, nil, agent.RuleExec, 2},
		{"exec_module", "import importlib.util\nspec = importlib.util.spec_from_file_location('m', '/tmp/m.py')\nm = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n" + okMain, nil, agent.RuleExec, 4},
		{"pickle_loads", "import pickle\nx = pickle.loads(b'')\n" + okMain, nil, agent.RuleDeserialize, 2},
		{"pickle_aliased", "import pickle as p\nf = p.load\n" + okMain, nil, agent.RuleDeserialize, 2},
		{"marshal_loads", "from marshal import loads\ncode = loads(b'')\n" + okMain, nil, agent.RuleDeserialize, 2},
		{"function_type", "import types\nf = types.FunctionType(None, {})\n" + okMain, nil, agent.RuleCodeObject, 2},
		{"code_type", "from types import CodeType\n" + okMain + "x = CodeType\n", nil, agent.RuleCodeObject, 4},
		{"dunder_code", "def f():\n    pass\nc = f.__code__\n" + okMain, nil, agent.RuleCodeObject, 3},
		{"frame_code", "import sys\nc = sys._getframe().f_code\n" + okMain, nil, agent.RuleCodeObject, 2},
		{"base64_blob", "import base64\nPAYLOAD = '" + b64 + "'\n" + okMain, nil, agent.RuleBlob, 2},
		{"wrapped_base64_blob", "PAYLOAD = '''\n" + strings.Repeat(b64[:76]+"\n", 150) + "'''\n" + okMain, nil, agent.RuleBlob, 1},
		{"hex_bytes_blob", "PAYLOAD = b'" + hexBlob + "'\n" + okMain, nil, agent.RuleBlob, 1},
		{"binary_bytes_blob", "PAYLOAD = b'" + strings.Repeat(`\x78\x9c\x01\xff`, 2500) + "'\n" + okMain, nil, agent.RuleBlob, 1},
		{"short_base64_is_fine", "KEY = '" + b64[:4000] + "'\n" + okMain, nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := agent.Check(context.Background(), []byte(tt.code), agent.CheckOptions{Allow: tt.allow})
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("Check: %v (report %+v)", err, rep)
				}
				if rep.AgentMain == nil || !strings.HasPrefix(rep.AgentMain.Text, "agent_main(") {
					t.Fatalf("AgentMain = %+v", rep.AgentMain)
				}
				return
			}
			if agora.ErrorCode(err) != agora.EUNPROCESSABLE {
				t.Fatalf("Check = %v (report %+v), want EUNPROCESSABLE", err, rep)
			}
			v := rep.Violations[0]
			if v.Rule != tt.rule || v.Line != tt.line {
				t.Fatalf("first violation = %+v, want rule %s at line %d (all: %+v)", v, tt.rule, tt.line, rep.Violations)
			}
			msg := agora.ErrorMessage(err)
			if !strings.Contains(msg, "(rule "+tt.rule+")") || tt.line > 0 && !strings.Contains(msg, "line ") {
				t.Fatalf("message %q does not name the line and rule", msg)
			}
		})
	}
}

func TestCheckReport(t *testing.T) {
	needPython(t)
	code := "import os\nimport requests\nfrom json import dumps\nimport importlib\nm = importlib.import_module('csv')\n\n\ndef agent_main(input_dict, *, verbose=False):\n    return {\"patch\": \"\"}\n"
	rep, err := agent.Check(context.Background(), []byte(code), agent.CheckOptions{Allow: []string{"requests"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.AgentMain; got == nil || got.Line != 8 || got.Text != "agent_main(input_dict, *, verbose=False)" {
		t.Fatalf("AgentMain = %+v", got)
	}
	want := []agent.Import{
		{Module: "os", Line: 1, Stdlib: true},
		{Module: "requests", Line: 2},
		{Module: "json", Line: 3, Stdlib: true},
		{Module: "importlib", Line: 4, Stdlib: true},
		{Module: "csv", Line: 5, Stdlib: true, Dynamic: true},
	}
	if len(rep.Imports) != len(want) {
		t.Fatalf("Imports = %+v", rep.Imports)
	}
	for i := range want {
		if rep.Imports[i] != want[i] {
			t.Fatalf("Imports[%d] = %+v, want %+v", i, rep.Imports[i], want[i])
		}
	}
	if got := strings.Join(rep.Modules(), ","); got != "csv,importlib,json,os,requests" {
		t.Fatalf("Modules = %s", got)
	}
	if rep.Size != len(code) || rep.Python == "" {
		t.Fatalf("Size %d Python %q", rep.Size, rep.Python)
	}
}

func TestCheckFileRules(t *testing.T) {
	// Decided in Go, before any interpreter runs: no python needed.
	opt := agent.CheckOptions{Python: "/nonexistent/python3"}
	big := make([]byte, agent.MaxBytes+1)
	rep, err := agent.Check(context.Background(), big, opt)
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || rep.Violations[0].Rule != agent.RuleSize {
		t.Fatalf("oversize: %v", err)
	}
	rep, err = agent.Check(context.Background(), []byte("x = 1\ny = 'caf\xe9'\n"+okMain), opt)
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || rep.Violations[0] != (agent.Violation{Line: 2, Col: 9, Rule: agent.RuleUTF8, Message: "invalid UTF-8"}) {
		t.Fatalf("utf8: %v %+v", err, rep)
	}
	if !strings.Contains(agora.ErrorMessage(err), "line 2") {
		t.Fatalf("message %q", agora.ErrorMessage(err))
	}
	_, err = agent.Check(context.Background(), []byte(okMain), opt)
	if agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("missing interpreter: %v", err)
	}
	_, err = agent.Check(context.Background(), []byte(okMain), agent.CheckOptions{Allow: []string{"requests; rm -rf /"}})
	if agora.ErrorCode(err) != agora.EINVALID {
		t.Fatalf("bad allowlist: %v", err)
	}
}

// TestCheckHostile feeds inputs meant to hang or exhaust the parser; each
// must come back quickly as a violation, never as a hang or a crash of
// this process.
func TestCheckHostile(t *testing.T) {
	needPython(t)
	tests := []struct {
		name string
		code string
		opt  agent.CheckOptions
		rule string
	}{
		{"deep_parens", "x = " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + "\n", agent.CheckOptions{}, agent.RuleSyntax},
		{"deep_binop", "x = " + strings.Repeat("1+", 200000) + "1\n", agent.CheckOptions{}, agent.RuleLimits},
		{"deep_unary", "x = " + strings.Repeat("-", 200000) + "1\n", agent.CheckOptions{}, agent.RuleLimits},
		{"deep_blocks", strings.Repeat("if 1:\n", 1) + func() string {
			var b strings.Builder
			for i := 1; i < 150; i++ {
				b.WriteString(strings.Repeat(" ", i) + "if 1:\n")
			}
			b.WriteString(strings.Repeat(" ", 150) + "pass\n")
			return b.String()
		}(), agent.CheckOptions{}, agent.RuleSyntax},
		{"memory_limit", "x = [" + strings.Repeat("1,", 300000) + "]\n" + okMain, agent.CheckOptions{MemoryBytes: 128 << 20}, agent.RuleLimits},
		{"wall_timeout", "x = [" + strings.Repeat("1,", 300000) + "]\n" + okMain, agent.CheckOptions{Timeout: 50 * time.Millisecond}, agent.RuleLimits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rep, err := agent.Check(context.Background(), []byte(tt.code), tt.opt)
			if agora.ErrorCode(err) != agora.EUNPROCESSABLE {
				t.Fatalf("Check = %v, want EUNPROCESSABLE", err)
			}
			if rep.Violations[0].Rule != tt.rule {
				t.Fatalf("violations %+v, want rule %s", rep.Violations, tt.rule)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestCheckCPULimit(t *testing.T) {
	needPython(t)
	if testing.Short() {
		t.Skip("parses a 2 MiB file")
	}
	// A dense file just under MaxBytes takes seconds of CPU and about
	// 600 MB: the default limits must admit it, and a one-second CPU
	// limit must end it (the kernel's SIGXCPU/SIGKILL).
	var b strings.Builder
	for i := 0; b.Len() < agent.MaxBytes-200; i++ {
		b.WriteString("def f(a, b):\n    return [a + b * 2, 'abc', {'k': a}]\n")
	}
	b.WriteString(okMain)
	if _, err := agent.Check(context.Background(), []byte(b.String()), agent.CheckOptions{}); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	rep, err := agent.Check(context.Background(), []byte(b.String()), agent.CheckOptions{CPU: time.Second})
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || rep.Violations[0].Rule != agent.RuleLimits {
		t.Fatalf("Check = %v %+v", err, rep)
	}
	if !strings.Contains(agora.ErrorMessage(err), "signal") {
		t.Fatalf("message %q", agora.ErrorMessage(err))
	}
}

func TestCheckContext(t *testing.T) {
	needPython(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := agent.Check(ctx, []byte(okMain), agent.CheckOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, want context.Canceled", err)
	}
}

func TestCheckPythonOnPath(t *testing.T) {
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	if _, err := agent.Check(context.Background(), []byte(okMain), agent.CheckOptions{Python: p}); err != nil {
		t.Fatalf("Check with %s: %v", p, err)
	}
}

// TestCheckIsAdvisory keeps the known bypasses of the static checks passing
// Check, on purpose: Check is advisory, the sandbox is the boundary (see the
// package doc). If a rule starts catching one of these, move it to the
// refused table above and keep this list honest with a new bypass.
func TestCheckIsAdvisory(t *testing.T) {
	needPython(t)
	bypasses := map[string]string{
		"exec_by_built_name":  "import builtins\nrun = vars(builtins)['ex' + 'ec']\n" + okMain,
		"sys_path_shadowing":  "import sys\nsys.path.insert(0, '/tmp/shadow')\nimport json\n" + okMain,
		"subprocess_python_c": "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'print(1)'])\n" + okMain,
	}
	for name, code := range bypasses {
		t.Run(name, func(t *testing.T) {
			rep, err := agent.Check(context.Background(), []byte(code), agent.CheckOptions{})
			if err != nil {
				t.Fatalf("Check refused a known bypass (%v); it is advisory: update the package doc and this test", err)
			}
			if len(rep.Violations) != 0 {
				t.Fatalf("Violations=%v, want none", rep.Violations)
			}
		})
	}
}

// TestCheckRidgesPreset: the ridges preset takes what Ridges' agents do —
// its allowlist, optional imports inside try/except, compile() as a syntax
// check — and still refuses the ways a hidden payload would run.
func TestCheckRidgesPreset(t *testing.T) {
	needPython(t)
	ridges := agent.OptionsFor(&agora.League{Preset: agora.LeaguePresetRidges})
	plain := agent.OptionsFor(&agora.League{})
	const syntaxCheck = "def ok(src):\n    try:\n        compile(src, 'x.py', 'exec')\n        return True\n    except SyntaxError:\n        return False\n"
	tests := []struct {
		name      string
		code      string
		ridgesErr string // rule refused under the preset; "" passes
		plainErr  string // rule refused by default
	}{
		{"allowlist", "import numpy as np\nimport requests\nfrom sklearn.feature_extraction.text import TfidfVectorizer\n" + okMain, "", agent.RuleImport},
		{"guarded_import", "try:\n    import flash_attn\nexcept ImportError:\n    flash_attn = None\n" + okMain, "", agent.RuleImport},
		{"guarded_dynamic_import", "import importlib as il\ntry:\n    m = il.import_module('vllm')\nexcept Exception:\n    pass\n" + okMain, "", agent.RuleImport},
		{"unguarded_import", "import flash_attn\n" + okMain, agent.RuleImport, agent.RuleImport},
		{"import_in_except_clause", "try:\n    pass\nexcept Exception:\n    import flash_attn\n" + okMain, agent.RuleImport, agent.RuleImport},
		{"compile_syntax_check", syntaxCheck + okMain, "", agent.RuleExec},
		{"exec_still_refused", "def run(s):\n    exec(s)\n" + okMain, agent.RuleExec, agent.RuleExec},
		{"eval_still_refused", "x = eval('1')\n" + okMain, agent.RuleExec, agent.RuleExec},
		{"pickle_loads_still_refused", "import pickle\nx = pickle.loads(b'')\n" + okMain, agent.RuleDeserialize, agent.RuleDeserialize},
		{"getattr_compile_still_refused", "import builtins\nc = getattr(builtins, 'compile')\n" + okMain, agent.RuleExec, agent.RuleExec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				opt  agent.CheckOptions
				want string
			}{{ridges, tt.ridgesErr}, {plain, tt.plainErr}} {
				rep, err := agent.Check(context.Background(), []byte(tt.code), c.opt)
				if c.want == "" {
					if err != nil {
						t.Fatalf("preset %v: %v", c.opt.GuardedImports, err)
					}
					continue
				}
				if agora.ErrorCode(err) != agora.EUNPROCESSABLE || rep == nil || rep.Violations[0].Rule != c.want {
					t.Fatalf("preset %v: err %v, report %+v; want rule %s", c.opt.GuardedImports, err, rep, c.want)
				}
			}
		})
	}
	rep, err := agent.Check(context.Background(), []byte("try:\n    import flash_attn\nexcept ImportError:\n    pass\n"+okMain), ridges)
	if err != nil || len(rep.Imports) != 1 || !rep.Imports[0].Guarded {
		t.Fatalf("guarded import report: %v %+v", err, rep)
	}
}
