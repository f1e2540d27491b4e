package patch_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/patch"
)

// The red-team suite for the static scan: a miner submits a patch that
// "fixes" calc and, in the package's __init__.py (imported by every test
// module, before any test runs), rewrites pytest's reports. Each variant
// hides the same attack a different way. The scan must flag every variant
// and name the lines, so the coordinator refuses or holds the submission
// before a validator runs it.

// addFile is `git diff` for a new file with body's lines.
func addFile(path, body string) string {
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n+++ b/%s\n@@ -0,0 +1,%d @@\n", path, path, path, len(lines))
	for _, l := range lines {
		b.WriteString("+" + l + "\n")
	}
	return b.String()
}

// editFile is `git diff` for an existing file: ctx lines from line start
// on, then the added lines.
func editFile(path string, start int, ctx []string, added string) string {
	add := strings.Split(strings.TrimSuffix(added, "\n"), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\nindex 1111111..2222222 100644\n--- a/%s\n+++ b/%s\n@@ -%d,%d +%d,%d @@\n", path, path, path, path, start, len(ctx), start, len(ctx)+len(add))
	for _, l := range ctx {
		b.WriteString(" " + l + "\n")
	}
	for _, l := range add {
		b.WriteString("+" + l + "\n")
	}
	return b.String()
}

// calcFix is the honest-looking part of each attack.
const calcFix = `diff --git a/calc/ops.py b/calc/ops.py
index 1111111..2222222 100644
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -10,3 +10,3 @@ def sub(a, b):
 def mean(xs):
     """Return the arithmetic mean of xs."""
-    return sum(xs) // len(xs)
+    return sum(xs) / len(xs)
`

// calcInitHead is the start of calc/__init__.py, as the base commit has it.
var calcInitHead = []string{
	`"""calc: a tiny calculator package (an Agora test fixture)."""`,
	"",
	"from calc.ops import add, mean, sub",
	"",
	`__all__ = ["add", "mean", "sub"]`,
}

// redTeamPayloads are appended to calc/__init__.py; the first are the
// harness red-team suite's payloads, the rest obfuscated variants.
var redTeamPayloads = map[string]string{
	"FromItemAndCall": fixture.RewriteFromItemAndCall,
	"FromImportRunner": `
from _pytest import runner as _r

_orig = _r.call_and_report


def _car(item, when, log=True, **kw):
    report = _orig(item, when, log=False, **kw)
    setattr(report, "outcome", "passed")
    return report


_r.call_and_report = _car
`,
	"DunderImportSetattr": `
_m = __import__("_pytest.reports", fromlist=["TestReport"])
_f = getattr(_m.TestReport, "from_item_and_call").__func__


def _g(cls, item, call):
    r = _f(cls, item, call)
    r.__dict__.update(outcome="passed", longrepr=None)
    return r


setattr(_m.TestReport, "from_item_and_call", classmethod(_g))
`,
	"SplitName": `
import importlib

_m = importlib.import_module("_pyt" + "est.rep" + "orts")
_orig = _m.TestReport.from_item_and_call.__func__
_m.TestReport.from_item_and_call = classmethod(lambda c, i, k: _fix(_orig(c, i, k)))


def _fix(r):
    r.__dict__["outcome"] = "passed"
    return r
`,
	"BuiltinsImport": `
import builtins

_imp = getattr(builtins, "__imp" + "ort__")
_m = _imp("".join(["_py", "test", ".reports"]), fromlist=["x"])
`,
	"SysModulesLookup": `
import sys

_rep = sys.modules.get("_pytest.reports") or sys.modules["_pytest.reports"]
`,
	"Base64Exec": `
import base64

exec(base64.b64decode(b"aW1wb3J0IF9weXRlc3QucmVwb3J0cyBhcyByCg=="))
`,
	"RegisterPlugin": `
import gc as _gc
import pluggy as _pluggy
import pytest as _pytest


class _Helper:
    @_pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        out = yield
        rep = out.get_result()
        if rep.failed:
            rep.outcome = "passed"
            rep.longrepr = None


for _o in _gc.get_objects():
    if isinstance(_o, _pluggy.PluginManager) and hasattr(_o, "rewrite_hook"):
        _o.register(_Helper(), "calc-helper")
        break
`,
	"RawForge": `
import atexit as _atexit
import os as _os


def _forge():
    for _id in ("tests/test_ops.py::test_mean_fractional",):
        _os.write(1, ("PASSED %s\n" % _id).encode())
    _os._exit(0)


_atexit.register(_forge)
`,
	"Settrace": `
import sys as _sys
import threading as _threading


def _local(frame, event, arg):
    if event == "return" and getattr(arg, "outcome", None) == "failed":
        arg.outcome = "passed"
    return _local


_sys.settrace(lambda f, e, a: _local if f.f_code.co_name == "from_item_and_call" else None)
_threading.settrace(_local)
`,
	"AliasChain": `
import sys as _s

_mods = _s.modules
_r = _mods["_py" "test.reports"]
`,
}

// TestRedTeamScanInitRewrite performs the attack: each payload is added to
// calc/__init__.py beside a plausible fix, as a miner would submit it. The
// scan must flag calc/__init__.py, on lines the payload added, and leave
// the honest fix alone.
func TestRedTeamScanInitRewrite(t *testing.T) {
	names := make([]string, 0, len(redTeamPayloads))
	for n := range redTeamPayloads {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		payload := redTeamPayloads[name]
		t.Run(name, func(t *testing.T) {
			start := len(calcInitHead) + 1 // first line the payload adds
			diff := calcFix + editFile("calc/__init__.py", 1, calcInitHead, payload)
			p := mustParse(t, diff)
			fs := patch.ScanTampering(p, patch.ScanOptions{Repo: "agora/calc"})
			var named []string
			for _, f := range fs {
				named = append(named, fmt.Sprintf("%s:%d %s", f.Path, f.Line, f.Rule))
				if f.Path != "calc/__init__.py" || f.Line < start {
					t.Errorf("finding %s:%d %s outside the payload", f.Path, f.Line, f.Rule)
				}
			}
			if len(fs) == 0 {
				t.Fatalf("attack not flagged: the coordinator would queue it for replay\npayload:%s", payload)
			}
			t.Logf("flagged: %s", strings.Join(named, ", "))
		})
	}
}

// TestRedTeamScanStartupFiles performs the attacks that need no line of
// library code: a plugin loaded from configuration, a startup file.
func TestRedTeamScanStartupFiles(t *testing.T) {
	plugin := addFile("calc/_plugin.py", `import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    out = yield
    out.get_result().outcome = "passed"
`)
	for name, diff := range map[string]string{
		"SetupCfgPlugin": calcFix + plugin + editFile("setup.cfg", 1, []string{"[metadata]"}, "[tool:pytest]\naddopts = -p calc._plugin"),
		"Sitecustomize":  calcFix + addFile("sitecustomize.py", "import calc._plugin"),
		"PthFile":        calcFix + addFile("calc-hook.pth", "import calc._plugin"),
		"ShadowPytest":   calcFix + addFile("pytest.py", "from _pytest.config import main"),
	} {
		t.Run(name, func(t *testing.T) {
			fs := patch.ScanTampering(mustParse(t, diff), patch.ScanOptions{Repo: "agora/calc"})
			if len(fs) == 0 {
				t.Fatalf("attack not flagged")
			}
			for _, f := range fs {
				if f.Path == "calc/ops.py" {
					t.Errorf("the honest fix is flagged: %+v", f)
				}
			}
		})
	}
}
