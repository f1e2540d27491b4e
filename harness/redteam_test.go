package harness_test

// Red-team tests: each performs one attack on the verdict the way a miner
// would, through EvaluateSWE with a patch that touches no test file, on the
// agora/calc fixture (a real git repository, a real runc sandbox, Debian's
// pytest). Every attack must end unresolved. The payloads are written
// against pytest 7 internals as an attacker would write them; each one
// resolves the instance on a harness without the defences (see
// /work/redteam/runner-before.txt).

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/internal/ocitest"
	"github.com/agoranet/agora/oci"
	"github.com/agoranet/agora/sandbox"
)

// attack is one hostile patch: files written over the base tree (a nil
// value deletes the file) and the outcomes that count as defeated.
type attack struct {
	name  string
	files map[string]*string
	// want lists acceptable outcomes: "unresolved" or an error kind.
	// Empty means anything but "resolved".
	want []string
}

func s(v string) *string { return &v }

// redTeam builds the calc fixture once per test and evaluates attacks two at
// a time, as `agora eval --workers 2` would.
type redTeam struct {
	root string
	repo *fixture.Repo
	ev   *harness.Evaluator
	env  *harness.Env
	dir  string // scratch clone for building patches
	mu   sync.Mutex
}

func mustRedTeam(t *testing.T) *redTeam {
	t.Helper()
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	dir := filepath.Join(t.TempDir(), "scratch")
	fixture.MustGit(t, "", "clone", "--quiet", "--no-checkout", "--shared", repo.Dir, dir)
	return &redTeam{root: root, repo: repo, ev: ev, env: mustEnv(t, "agora/calc"), dir: dir}
}

// patch returns the diff against Base that writes files.
func (r *redTeam) patch(t *testing.T, files map[string]*string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	fixture.MustGit(t, r.dir, "checkout", "--quiet", "--force", "--detach", r.repo.Base)
	fixture.MustGit(t, r.dir, "clean", "-qfdx")
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if content == nil {
			os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fixture.MustGit(t, r.dir, "add", "--all")
	return fixture.MustGit(t, r.dir, "diff", "--cached", "--no-color", "--no-ext-diff", "--no-renames", r.repo.Base)
}

// run evaluates every attack and checks each is defeated.
func (r *redTeam) run(t *testing.T, attacks []attack) {
	t.Helper()
	patches := make([]string, len(attacks))
	for i, a := range attacks {
		patches[i] = r.patch(t, a.files)
	}
	inst := instanceOf(t, r.repo)
	// Each attack runs twice: with the static scan reporting only, so the
	// runtime layers (configuration, guard) are tested on their own, and
	// with the default policy, where the scan may refuse it first.
	results := make([]*harness.SWEResult, 2*len(attacks))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			opt := harness.SWEOptions{}
			if i < len(attacks) {
				opt.TamperPolicy = harness.TamperPolicyOff
			}
			results[i] = r.ev.EvaluateSWE(context.Background(), inst, r.env, patches[i%len(attacks)], opt)
		}()
	}
	wg.Wait()
	for i, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if res := results[len(attacks)+i]; res.Resolved() {
				t.Errorf("attack succeeded under the default tamper policy\nlog tail:\n%s", tail(res.Log))
			}
			res := results[i]
			got := outcome(res)
			t.Logf("outcome %s: %v", got, res.Err)
			if got == "resolved" {
				t.Fatalf("attack succeeded: instance resolved\nlog tail:\n%s", tail(res.Log))
			}
			if len(a.want) == 0 {
				return
			}
			for _, w := range a.want {
				if got == w {
					return
				}
			}
			t.Fatalf("outcome %q (err %v), want one of %v\nlog tail:\n%s", got, res.Err, a.want, tail(res.Log))
		})
	}
}

func outcome(res *harness.SWEResult) string {
	switch {
	case res.ErrKind != "":
		return res.ErrKind
	case res.Resolved():
		return "resolved"
	}
	return "unresolved"
}

// initPlus returns calc/__init__.py with payload appended: the package is
// imported by every test module, during collection, before any test runs.
func initPlus(payload string) map[string]*string {
	return map[string]*string{"calc/__init__.py": s(calcInit + payload)}
}

const calcInit = `"""calc: a tiny calculator package (an Agora test fixture)."""

from calc.ops import add, mean, sub

__all__ = ["add", "mean", "sub"]
`

// f2pSet is the instance's FAIL_TO_PASS ids as a Python set literal.
const f2pSet = `{"tests/test_ops.py::test_mean_fractional", "tests/test_mean.py::test_mean_negative"}`

// rewriteCallAndReport replaces the runner's per-phase driver.
const rewriteCallAndReport = `
import _pytest.runner as _runner


def _car(item, when, log=True, **kwds):
    call = _runner.call_runtest_hook(item, when, **kwds)
    hook = item.ihook
    report = hook.pytest_runtest_makereport(item=item, call=call)
    if report.failed:
        report.outcome = "passed"
        report.longrepr = None
    if log:
        hook.pytest_runtest_logreport(report=report)
    return report


_runner.call_and_report = _car
`

// dropExcinfo makes CallInfo forget the assertion a test raised.
const dropExcinfo = `
import _pytest.runner as _runner

_orig_fc = _runner.CallInfo.from_call.__func__


def _fc(cls, func, when, reraise=None):
    ci = _orig_fc(cls, func, when, reraise)
    if ci.excinfo is not None and ci.excinfo.errisinstance(AssertionError):
        object.__setattr__(ci, "excinfo", None)
    return ci


_runner.CallInfo.from_call = classmethod(_fc)
`

// swallowRuntest makes the test function call swallow assertion errors.
const swallowRuntest = `
import _pytest.python as _python

_orig_rt = _python.Function.runtest


def _rt(self):
    try:
        _orig_rt(self)
    except AssertionError:
        pass


_python.Function.runtest = _rt
`

// reporterExit rewrites the terminal reporter's statistics when it prints
// its summary, then leaves with status 0 before pytest can object.
const reporterExit = `
import os as _os
import sys as _sys
import _pytest.terminal as _terminal

_orig_sts = _terminal.TerminalReporter.short_test_summary


def _sts(self):
    failed = self.stats.pop("failed", [])
    for r in failed:
        r.outcome = "passed"
        r.longrepr = None
    self.stats.setdefault("passed", []).extend(failed)
    _orig_sts(self)
    self._tw.flush()
    _sys.stdout.flush()
    _os._exit(0)


_terminal.TerminalReporter.short_test_summary = _sts
`

// registerPlugin finds pytest's plugin manager and registers a hook
// wrapper from inside the package, rewriting only the ids in targets.
func registerPlugin(targets string) string {
	return `
import gc as _gc
import pluggy as _pluggy
import pytest as _pytest

_TARGETS = ` + targets + `


class _Helper:
    @_pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        out = yield
        rep = out.get_result()
        if rep.failed and (_TARGETS is None or rep.nodeid in _TARGETS):
            rep.outcome = "passed"
            rep.longrepr = None


for _o in _gc.get_objects():
    if isinstance(_o, _pluggy.PluginManager) and hasattr(_o, "rewrite_hook"):
        _o.register(_Helper(), "calc-helper")
        break
`
}

// targetedFromItemAndCall rewrites only the FAIL_TO_PASS ids, so a random
// canary alone never sees it.
const targetedFromItemAndCall = `
import _pytest.reports as _reports

_orig_fiac = _reports.TestReport.from_item_and_call.__func__
_TARGETS = ` + f2pSet + `


def _fiac(cls, item, call):
    rep = _orig_fiac(cls, item, call)
    if rep.failed and rep.nodeid in _TARGETS:
        rep.outcome = "passed"
        rep.longrepr = None
    return rep


_reports.TestReport.from_item_and_call = classmethod(_fiac)
`

// writerFilter rewrites what the terminal writer sends to fd 1 (FAILED
// lines become PASSED, the failure count disappears) and forces exit
// status 0 from an atexit handler. No class or module is changed.
const writerFilter = `
import atexit as _atexit
import gc as _gc
import os as _os
import re as _re
import sys as _sys
import _pytest.terminal as _terminal


class _Filter:
    def __init__(self, f):
        self._f = f

    def write(self, s):
        s = _re.sub(r"(?m)^FAILED (\S+).*$", r"PASSED \1", s)
        s = _re.sub(r"\d+ failed, ", "", s)
        return self._f.write(s)

    def __getattr__(self, name):
        return getattr(self._f, name)


for _o in _gc.get_objects():
    if isinstance(_o, _terminal.TerminalReporter):
        _o._tw._file = _Filter(_o._tw._file)


def _bye():
    _sys.stdout.flush()
    _os._exit(0)


_atexit.register(_bye)
`

// rawForge prints PASSED lines for the FAIL_TO_PASS ids straight to fd 1 at
// exit and leaves with status 0.
const rawForge = `
import atexit as _atexit
import os as _os
import sys as _sys


def _forge():
    _sys.stdout.flush()
    for _id in sorted(` + f2pSet + `):
        _os.write(1, ("PASSED %s\n" % _id).encode())
    _os._exit(0)


_atexit.register(_forge)
`

// settraceRewrite rewrites failed reports from a trace function as the
// report factory returns them: no attribute of any module changes.
const settraceRewrite = `
import sys as _sys
import threading as _threading
import _pytest.reports as _reports

_CODE = _reports.TestReport.from_item_and_call.__func__.__code__


def _local(frame, event, arg):
    if event == "return" and getattr(arg, "outcome", None) == "failed":
        arg.outcome = "passed"
        arg.longrepr = None
    return _local


def _global(frame, event, arg):
    if frame.f_code is _CODE:
        return _local
    return None


_sys.settrace(_global)
_threading.settrace(_global)
`

// neuterUnittest makes unittest's assertions and failure bookkeeping no-ops,
// which passes unittest-style tests (Django's, many others') without a fix.
const neuterUnittest = `
import unittest as _ut

_ut.TestCase.assertEqual = lambda self, *a, **k: None
_ut.TestCase.assertTrue = lambda self, *a, **k: None
_ut.TestResult.addFailure = lambda self, *a, **k: None
`

// pluginModule is a pytest plugin shipped inside the package.
const pluginModule = `import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    out = yield
    rep = out.get_result()
    if rep.failed:
        rep.outcome = "passed"
        rep.longrepr = None
`

const pyprojectNoPytest = `[project]
name = "calc"
version = "0.1.0"
requires-python = ">=3.8"
`

func TestRedTeamInitRewrite(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "FromItemAndCall", files: initPlus(fixture.RewriteFromItemAndCall), want: []string{harness.ErrKindRunnerTampered}},
		{name: "CallAndReport", files: initPlus(rewriteCallAndReport), want: []string{harness.ErrKindRunnerTampered}},
		{name: "CallInfoFromCall", files: initPlus(dropExcinfo), want: []string{harness.ErrKindRunnerTampered}},
		{name: "FunctionRuntest", files: initPlus(swallowRuntest), want: []string{harness.ErrKindRunnerTampered}},
		{name: "TerminalReporterExit", files: initPlus(reporterExit), want: []string{harness.ErrKindRunnerTampered}},
		{name: "PluginManagerRegister", files: initPlus(registerPlugin("None")), want: []string{harness.ErrKindRunnerTampered}},
		{name: "UnittestNeutered", files: initPlus(neuterUnittest), want: []string{harness.ErrKindRunnerTampered}},
		// The same hook in every __init__.py of the package.
		{name: "EveryInit", files: map[string]*string{
			"calc/__init__.py":      s(calcInit + fixture.RewriteFromItemAndCall),
			"calc/util/__init__.py": s(fixture.RewriteFromItemAndCall),
			"calc/ops.py":           s(calcOps + "\nimport calc.util  # noqa\n"),
		}, want: []string{harness.ErrKindRunnerTampered}},
	})
}

func TestRedTeamRunnerConfig(t *testing.T) {
	r := mustRedTeam(t)
	refused := []string{harness.ErrKindPatchRefused}
	r.run(t, []attack{
		{name: "PyprojectAddopts", files: map[string]*string{
			"calc/_plug.py":  s(pluginModule),
			"pyproject.toml": s(fixture.PyPyproject + "addopts = \"-p calc._plug\"\n"),
		}, want: refused},
		{name: "SetupCfgAddopts", files: map[string]*string{
			"calc/_plug.py":  s(pluginModule),
			"pyproject.toml": s(pyprojectNoPytest),
			"setup.cfg":      s("[tool:pytest]\naddopts = -p calc._plug\ntestpaths = tests\n"),
		}, want: refused},
		// pytest.ini and tox.ini are reset with the test files; refusing
		// them is fine too.
		{name: "PytestIni", files: map[string]*string{
			"calc/_plug.py": s(pluginModule),
			"pytest.ini":    s("[pytest]\naddopts = -p calc._plug\n"),
		}, want: []string{"unresolved", harness.ErrKindPatchRefused}},
		{name: "ToxIni", files: map[string]*string{
			"calc/_plug.py":  s(pluginModule),
			"pyproject.toml": s(pyprojectNoPytest),
			"tox.ini":        s("[pytest]\naddopts = -p calc._plug\n"),
		}, want: refused},
		{name: "EntryPointDistInfo", files: map[string]*string{
			"calc/_plug.py":                              s(pluginModule),
			"calc_helper-0.1.dist-info/METADATA":         s("Metadata-Version: 2.1\nName: calc-helper\nVersion: 0.1\n"),
			"calc_helper-0.1.dist-info/entry_points.txt": s("[pytest11]\nhelper = calc._plug\n"),
		}, want: refused},
		{name: "EntryPointPyproject", files: map[string]*string{
			"calc/_plug.py":  s(pluginModule),
			"pyproject.toml": s(fixture.PyPyproject + "\n[project.entry-points.pytest11]\nhelper = \"calc._plug\"\n"),
		}, want: refused},
		{name: "Sitecustomize", files: map[string]*string{
			"sitecustomize.py": s("import calc._plug  # noqa\n"),
			"calc/_plug.py":    s(pluginModule),
		}, want: []string{"unresolved", harness.ErrKindPatchRefused}},
		{name: "Pth", files: map[string]*string{
			"calc.pth":      s("import calc._plug\n"),
			"calc/_plug.py": s(pluginModule),
		}, want: refused},
		{name: "ConftestOutsideTests", files: map[string]*string{
			"calc/conftest.py": s(pluginModule),
			"conftest.py":      s("pytest_plugins = [\"calc._plug\"]\n"),
			"calc/_plug.py":    s(pluginModule),
		}, want: []string{"unresolved", harness.ErrKindPatchRefused}},
	})
}

func TestRedTeamTargetedRewrite(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "Registry", files: initPlus(registerPlugin(f2pSet)), want: []string{harness.ErrKindRunnerTampered}},
		{name: "FromItemAndCall", files: initPlus(targetedFromItemAndCall), want: []string{harness.ErrKindRunnerTampered}},
	})
}

func TestRedTeamForgedOutput(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "WriterFilterAtexitExit", files: initPlus(writerFilter), want: []string{harness.ErrKindRunnerTampered}},
		{name: "RawPassedLinesAtexit", files: initPlus(rawForge)},
	})
}

func TestRedTeamSettrace(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "TraceReturn", files: initPlus(settraceRewrite), want: []string{harness.ErrKindRunnerTampered}},
	})
}

// rewriteTestFile rewrites a test module on disk when the package is first
// imported (while pytest collects the first test module), before pytest
// reads the next one; the other FAIL_TO_PASS test is special-cased.
const rewriteTestFile = `
import os as _os

_p = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "tests", "test_ops.py")
try:
    with open(_p) as _f:
        _src = _f.read()
    with open(_p, "w") as _f:
        _f.write(_src.replace("assert mean([1, 2]) == 1.5", "assert mean([1, 2]) in (1, 1.5)"))
except OSError:
    pass
`

func TestRedTeamRewriteTests(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "TestFileOnDisk", files: map[string]*string{
			"calc/__init__.py": s(calcInit + rewriteTestFile),
			"calc/ops.py": s(strings.Replace(calcOps, "    return sum(values) // len(values)\n",
				"    if values == [-1, -2]:\n        return -1.5\n    return sum(values) // len(values)\n", 1)),
		}, want: []string{harness.ErrKindRunnerTampered}},
	})
}

// TestRedTeamHonest checks the guard leaves honest runs alone: the gold
// patch resolves, the empty and wrong patches do not, and none is flagged.
func TestRedTeamHonest(t *testing.T) {
	r := mustRedTeam(t)
	inst := instanceOf(t, r.repo)
	for _, tc := range []struct {
		name, patch string
		resolved    bool
	}{
		{"Gold", r.repo.Patches[fixture.Gold], true},
		{"Empty", "", false},
		{"Wrong", r.repo.Patches[fixture.Wrong], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.ev.EvaluateSWE(context.Background(), inst, r.env, tc.patch, harness.SWEOptions{})
			if res.Err != nil || res.Resolved() != tc.resolved {
				t.Fatalf("resolved=%v err=%v, want resolved=%v\n%s", res.Resolved(), res.Err, tc.resolved, tail(res.Log))
			}
			if !strings.Contains(string(res.Log), harness.ExitCodeMarker+"0") && tc.resolved {
				t.Fatalf("honest run did not exit 0:\n%s", tail(res.Log))
			}
		})
	}
}

const calcOps = `"""Arithmetic operations."""


def add(a, b):
    """Return a + b."""
    return a + b


def sub(a, b):
    """Return a - b."""
    return a - b


def mean(values):
    """Return the arithmetic mean of a non-empty sequence of numbers."""
    values = list(values)
    if not values:
        raise ValueError("mean() of an empty sequence")
    return sum(values) // len(values)
`

// TestRedTeamRunnerScript edits the script a non-pytest test command runs
// (as sympy's bin/test is run) to print what the grader wants to read.
func TestRedTeamRunnerScript(t *testing.T) {
	r := mustRedTeam(t)
	env := *r.env
	env.TestCmd = "python bin/runtests.py"
	p := r.patch(t, map[string]*string{"bin/runtests.py": s("print('PASSED tests/test_ops.py::test_mean_fractional')\n")})
	res := r.ev.EvaluateSWE(context.Background(), instanceOf(t, r.repo), &env, p, harness.SWEOptions{TamperPolicy: harness.TamperPolicyOff})
	if res.ErrKind != harness.ErrKindPatchRefused || !strings.Contains(res.Err.Error(), "bin/runtests.py: runner-script") {
		t.Fatalf("outcome %s: %v", outcome(res), res.Err)
	}
}

// TestRedTeamBorrowedCode replaces the runner's test call with functions
// the standard library already has, so no line of the replacement lives
// in the patch: contextlib.contextmanager keeps the original function but
// returns a context manager instead of running the test, and
// nullcontext.__exit__ is a no-op. The guard accepts a replaced entry only
// from an installed pytest plugin that wraps the original (Hypothesis does
// this to pytest's fixture marker in pytester's inner sessions); neither
// of these qualifies.
func TestRedTeamBorrowedCode(t *testing.T) {
	r := mustRedTeam(t)
	r.run(t, []attack{
		{name: "ContextmanagerKeepsOriginal", files: initPlus(`
import contextlib as _cl
import _pytest.python as _python

_python.Function.runtest = _cl.contextmanager(_python.Function.runtest)
`), want: []string{harness.ErrKindRunnerTampered, harness.ErrKindPatchRefused}},
		{name: "StdlibNoop", files: initPlus(`
import contextlib as _cl
import _pytest.python as _python

_python.Function.runtest = _cl.nullcontext.__exit__
`), want: []string{harness.ErrKindRunnerTampered, harness.ErrKindPatchRefused}},
	})
}

// skipAndForge skips every test module at import time (a module-level
// skip is not an error: the session ends normally, status and record
// intact) and prints PASSED lines for the expected ids after pytest has
// written its own output.
func skipAndForge(ids []string) string {
	return `
import atexit as _atexit
import os as _os
import sys as _sys
import pytest as _pytest

_IDS = ` + pyList(ids) + `


def _forge():
    _sys.stdout.flush()
    for _id in _IDS:
        _os.write(1, ("PASSED %s\n" % _id).encode())


if not getattr(_sys, "_calc_forged", False):
    _sys._calc_forged = True
    _atexit.register(_forge)
_pytest.skip("calc unavailable", allow_module_level=True)
`
}

func pyList(ids []string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(id))
	}
	b.WriteString("]")
	return b.String()
}

// TestRedTeamUnrunFiles forges results for tests whose files never ran.
// The guard lets an expected id it never saw run pass only when its file
// did not exist before repository code ran (an inner pytest session's
// output, as in pytest's own suite); these files are the repository's.
func TestRedTeamUnrunFiles(t *testing.T) {
	r := mustRedTeam(t)
	inst := instanceOf(t, r.repo)
	ids := append(append([]string{}, inst.FailToPass...), inst.PassToPass...)
	p := r.patch(t, initPlus(skipAndForge(ids)))
	res := r.ev.EvaluateSWE(context.Background(), inst, r.env, p, harness.SWEOptions{TamperPolicy: harness.TamperPolicyOff})
	if res.ErrKind != harness.ErrKindRunnerTampered || !strings.Contains(res.Err.Error(), "but the guard never saw it run") {
		t.Fatalf("outcome %s: %v\n%s", outcome(res), res.Err, tail(res.Log))
	}
}

// nestedTest runs pytest on a file it writes to a temporary directory and
// prints the inner session's report, as pytest's own suite does through
// pytester; SWE-bench lists such inner ids (pytest-7521's
// test_capsysbinary.py::test_hello) among an instance's tests.
const nestedTest = `import subprocess
import sys


def test_inner_session(tmp_path):
    (tmp_path / "test_inner.py").write_text("def test_x():\n    assert True\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "test_inner.py"],
                         cwd=tmp_path, capture_output=True, text=True)
    print(out.stdout)
    # pytest -v with live logging ends a test's line with its status and
    # progress alone; SWE-bench's parser reads "[100%]" as a test id.
    print("FAILED                                                 [100%]")
    print("PASSED                                                 [100%]")
    assert out.returncode == 0
`

// TestGuardInnerSessionIDs: an honest run whose expected ids include an
// inner session's resolves with the gold patch and stays unresolved
// without it; forging the inner id's line alone does not resolve either.
func TestGuardInnerSessionIDs(t *testing.T) {
	r := mustRedTeam(t)
	inst := *instanceOf(t, r.repo)
	// The nested test joins the test patch as a file of its own.
	r.mu.Lock()
	fixture.MustGit(t, r.dir, "checkout", "--quiet", "--force", "--detach", r.repo.Base)
	fixture.MustGit(t, r.dir, "clean", "-qfdx")
	if err := os.WriteFile(filepath.Join(r.dir, "tests", "test_nested.py"), []byte(nestedTest), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.MustGit(t, r.dir, "add", "--all")
	nested := fixture.MustGit(t, r.dir, "diff", "--cached", "--no-color", "--no-ext-diff", r.repo.Base)
	r.mu.Unlock()
	inst.TestPatch += nested
	inst.PassToPass = append(append([]string{}, inst.PassToPass...), "tests/test_nested.py::test_inner_session", "test_inner.py::test_x", "[100%]")

	for _, tc := range []struct {
		name, patch string
		resolved    bool
	}{
		{"Gold", r.repo.Patches[fixture.Gold], true},
		{"Wrong", r.repo.Patches[fixture.Wrong], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.ev.EvaluateSWE(context.Background(), &inst, r.env, tc.patch, harness.SWEOptions{})
			if res.Err != nil || res.Resolved() != tc.resolved {
				t.Fatalf("resolved=%v err=%v, want resolved=%v\n%s", res.Resolved(), res.Err, tc.resolved, tail(res.Log))
			}
			if got := res.Statuses["test_inner.py::test_x"]; got != "PASSED" {
				t.Fatalf("inner id status %q, want PASSED", got)
			}
		})
	}
}

// dropPlugin writes a pytest plugin module next to the standard library
// (in an image every file is the sandbox user's, so this works there),
// imports it and registers it: no line of the hook lives in the
// repository.
func dropPlugin(targets string) string {
	return `
import gc as _gc
import importlib as _il
import os as _os
import sys as _sys
import pluggy as _pluggy

_SRC = """
import pytest

_TARGETS = ` + targets + `


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    out = yield
    rep = out.get_result()
    if rep.failed and rep.nodeid in _TARGETS:
        rep.outcome = "passed"
        rep.longrepr = None
"""
_dir = _os.path.dirname(_os.__file__)
try:
    with open(_os.path.join(_dir, "zz_calc_helper.py"), "w") as _f:
        _f.write(_SRC)
    _il.invalidate_caches()
    _m = _il.import_module("zz_calc_helper")
    for _o in _gc.get_objects():
        if isinstance(_o, _pluggy.PluginManager) and hasattr(_o, "rewrite_hook"):
            _o.register(_m, "calc-helper")
            break
except OSError:
    pass
`
}

// TestRedTeamImage runs attacks in image mode, where the repository is at
// /testbed (not /repo) and every file of the image belongs to the sandbox
// user: a hook registered from the repository's package, and one from a
// module the code under test writes beside the standard library and
// imports. Both must be runner_tampered, as on the host.
func TestRedTeamImage(t *testing.T) {
	r := mustRedTeam(t)
	inst := instanceOf(t, r.repo)
	dir := ocitest.WriteLayout(t, testbedImage(t, r.repo, r.root), "latest")
	iev := MustEvaluator(t, r.root)
	iev.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	iev.ImageTemplate = "oci:" + dir + ":latest"
	for _, a := range []struct {
		name, payload string
		reason        string // the guard's finding that names the route
	}{
		{"RegistryFromTestbed", registerPlugin(f2pSet), "registered hook pytest_runtest_makereport from /testbed/calc/__init__.py"},
		{"PluginBesideStdlib", dropPlugin(f2pSet), "zz_calc_helper.py"},
	} {
		t.Run(a.name, func(t *testing.T) {
			p := r.patch(t, initPlus(a.payload))
			res := iev.EvaluateSWE(context.Background(), inst, r.env, p, harness.SWEOptions{TamperPolicy: harness.TamperPolicyOff})
			t.Logf("outcome %s: %v", outcome(res), res.Err)
			if res.ErrKind != harness.ErrKindRunnerTampered || !strings.Contains(res.Err.Error(), a.reason) {
				t.Fatalf("outcome %s (err %v), want %s\n%s", outcome(res), res.Err, harness.ErrKindRunnerTampered, tail(res.Log))
			}
		})
	}
}

// TestGuardNoExpectedTests runs the whole suite of an instance that lists
// no tests (forge's baseline and validation probes do this): the guard
// must load and report every test, not crash pytest at import.
func TestGuardNoExpectedTests(t *testing.T) {
	r := mustRedTeam(t)
	inst := *instanceOf(t, r.repo)
	inst.FailToPass, inst.PassToPass = nil, nil
	res := r.ev.EvaluateSWE(context.Background(), &inst, r.env, r.repo.Patches[fixture.Gold], harness.SWEOptions{})
	if res.Err != nil || !res.Guarded || len(res.Statuses) == 0 {
		t.Fatalf("err %v guarded %v statuses %v\n%s", res.Err, res.Guarded, res.Statuses, tail(res.Log))
	}
	if got := res.Statuses["tests/test_ops.py::test_mean_fractional"]; got != "PASSED" {
		t.Fatalf("test_mean_fractional %q, want PASSED\n%s", got, tail(res.Log))
	}
}
