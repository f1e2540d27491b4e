"""agora_guard: the grader's pytest plugin (Agora harness, harness/guard.go).

The harness writes this file to a read-only directory outside /repo and
loads it first ("-p agora_guard" in PYTEST_ADDOPTS, the directory first on
PYTHONPATH), so it is imported before any repository code. It

  * snapshots the reporting machinery (runner, reports, terminal, python,
    main, skipping, fixtures, pluggy's call path, selected builtins, sys and
    os functions) before repository code runs, and re-checks it after
    collection, after every test, and at the end;
  * checks the plugin registry: a hook implementation whose code lives in a
    writable place (/repo, /env, /tmp) and is not a conftest.py or a test
    file was registered by the code under test;
  * refuses trace and profile functions while reports are made;
  * plants canary tests (names chosen per run by the harness) next to real
    tests: some must fail, some must pass;
  * records, from the outermost pytest_runtest_makereport wrapper, what each
    phase raised and what the report said, and flags a report that passed
    although its phase raised;
  * writes a MAC-signed record to a writable directory outside /repo at the
    very end (pytest_unconfigure). The harness compares it with the parsed
    log and the exit status; a missing record is itself a finding.

What it cannot do: code in the same process can read and patch anything,
including this module. The guard raises the cost of tampering and makes the
known routes visible; it is not a sandbox boundary.

Nothing here may change an honest run's verdict: canary failures are taken
out of the failure count (exit status, -x and --maxfail), and everything
the guard set in the environment is restored before tests run, so
subprocesses behave as without it.
"""

import builtins
import hashlib
import hmac
import json
import os
import random
import sys
import threading
import time
import types

_CONF_ENV = "AGORA_GUARD"

# The primary process is the one the harness started: it finds the config
# path in its environment and removes it, so a pytest started by a test
# (pytester's subprocess runs) loads an inert guard.
_CONF = None
_MAC = None  # an HMAC object: the key itself is not kept in Python
_path = os.environ.pop(_CONF_ENV, None)
if _path:
    try:
        with open(_path, encoding="utf-8") as _f:
            _CONF = json.load(_f)
        _keyfile = _CONF.get("key_file", "")
        if _keyfile:
            with open(_keyfile, "rb") as _f:
                _MAC = hmac.new(_f.read(), digestmod=hashlib.sha256)
            # Gone before any repository code runs.
            os.unlink(_keyfile)
    except Exception as _e:  # the record will say why
        _CONF = {"error": "guard config: %r" % (_e,)}

import pytest  # noqa: E402
import pluggy  # noqa: E402
from _pytest.outcomes import Failed as _FAILED  # noqa: E402

_UNTRUSTED_ROOTS = ("/repo/", "/env/", "/tmp/", "/var/tmp/", "/dev/shm/", "/run/")
_TEST_DIRS = {"test", "tests", "testing"}
_HERE = os.path.abspath(__file__)

_WATCH = [
    "_pytest.runner",
    "_pytest.reports",
    "_pytest.terminal",
    "_pytest.python",
    "_pytest.main",
    "_pytest.skipping",
    "_pytest.outcomes",
    "_pytest.nodes",
    "_pytest.unittest",
    "_pytest.fixtures",
    "_pytest.capture",
    "_pytest.config",
    "_pytest._io.terminalwriter",
    "_pytest._code.code",
    "_pytest.assertion.rewrite",
    "pluggy._callers",
    "pluggy._hooks",
    "pluggy._manager",
    "pluggy._result",
    "pytest",
    # unittest-style tests run through TestCase.run and its assert methods:
    # library code that neuters them passes those tests without a fix.
    "unittest.case",
    "unittest.result",
]

# Checked after every test; the rest of _WATCH after collection, every
# _FULL_EVERY tests and at the end.
_HOT = {"_pytest.runner", "_pytest.reports", "_pytest.python", "_pytest.skipping", "_pytest.terminal",
        "pluggy._callers", "pluggy._hooks", "pluggy._result"}
_FULL_EVERY = 25

_BUILTINS = [
    "__import__", "isinstance", "issubclass", "getattr", "setattr", "hasattr",
    "type", "print", "open", "compile", "exec", "eval", "id", "repr", "str",
    "len", "BaseException", "Exception", "AssertionError", "SystemExit",
    "KeyboardInterrupt", "object", "super", "callable",
]


def _code(fn):
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__code__", None)


class _Machinery:
    """Identity snapshot of the objects a report passes through."""

    def __init__(self):
        self.entries = []  # (label, holder, name, value, code, defaults)
        self.modules = {}
        for name in _WATCH:
            try:
                mod = __import__(name, fromlist=["_"])
            except Exception:
                continue
            self.modules[name] = mod
            for attr, val in list(vars(mod).items()):
                if isinstance(val, types.FunctionType) or (
                    isinstance(val, type) and (getattr(val, "__module__", "") or "").split(".")[0] in ("_pytest", "pluggy", "pytest", "unittest")
                ):
                    self._add(name + "." + attr, mod, attr, val, name in _HOT)
                    if isinstance(val, type) and getattr(val, "__module__", "") == name:
                        for cattr, cval in list(vars(val).items()):
                            if isinstance(cval, (types.FunctionType, classmethod, staticmethod, property)):
                                self._add("%s.%s.%s" % (name, attr, cattr), val, cattr, cval, name in _HOT)
        for attr in _BUILTINS:
            if hasattr(builtins, attr):
                self._add("builtins." + attr, builtins, attr, getattr(builtins, attr))
        for attr in ("exit", "settrace", "setprofile", "gettrace", "getprofile"):
            self._add("sys." + attr, sys, attr, getattr(sys, attr))
        for attr in ("_exit", "write", "dup2", "fork", "kill"):
            if hasattr(os, attr):
                self._add("os." + attr, os, attr, getattr(os, attr))
        self.meta_path = list(sys.meta_path)

    def preloaded(self):
        """Entries whose code is not pytest's, pluggy's or the system's: a
        plugin named by the repository's own configuration is imported
        before this one and may have patched them already."""
        bad = []
        for label, holder, d, name, val, fns, hot in self.entries:
            for f, c, dflt in fns:
                # Generated methods (attrs, dataclasses) have no file.
                if not c.co_filename.startswith("<") and not _trusted_file(c.co_filename):
                    bad.append("machinery: %s was already replaced by %s when the guard loaded" % (label, c.co_filename))
        return bad

    def _add(self, label, holder, name, val, hot=True):
        fns = [val]
        if isinstance(val, (classmethod, staticmethod)):
            fns = [val.__func__]
        elif isinstance(val, property):
            fns = [val.fget, val.fset, val.fdel]
        # Only Python functions carry code and defaults to compare.
        fns = tuple((f, f.__code__, f.__defaults__) for f in fns if isinstance(f, types.FunctionType))
        # A module's dict and a class's mappingproxy are live views: the
        # check is a dict lookup per entry.
        d = vars(holder)
        self.entries.append((label, holder, d, name, val, fns, hot))

    def check(self, full=True):
        bad = []
        for i, (label, holder, d, name, val, fns, hot) in enumerate(self.entries):
            if not (full or hot):
                continue
            cur = d.get(name, _MISSING)
            if cur is not val:
                # pytest patches some of its own classes at configure time
                # (_pytest/legacypath.py); its own code may, nothing else.
                if cur is not _MISSING and (_own_pytest(cur) or _installed_wrapper(cur, val)):
                    self._add(label, holder, name, cur, hot)
                    self.entries[i] = self.entries.pop()
                    continue
                bad.append("%s replaced" % label)
                continue
            for f, c, dflt in fns:
                if f.__code__ is not c:
                    bad.append("%s code replaced" % label)
                elif f.__defaults__ is not dflt:
                    bad.append("%s defaults replaced" % label)
        if len(sys.meta_path) != len(self.meta_path) or any(a is not b for a, b in zip(sys.meta_path, self.meta_path)):
            for finder in sys.meta_path:
                if not any(finder is f for f in self.meta_path) and not _trusted_obj(type(finder)):
                    bad.append("import hook %r added by %s" % (type(finder).__name__, _file_of(type(finder))))
        return bad


_MISSING = object()


def _file_of(obj):
    c = _code(obj)
    if c is not None:
        return c.co_filename
    mod = sys.modules.get(getattr(obj, "__module__", "") or "")
    return getattr(mod, "__file__", None) or "<unknown>"


def _own_pytest(obj):
    fns = [obj]
    if isinstance(obj, (classmethod, staticmethod)):
        fns = [obj.__func__]
    elif isinstance(obj, property):
        fns = [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
    if not _STATE.pytest_dirs:
        return False
    for f in fns:
        c = _code(f)
        if c is None or not os.path.normpath(c.co_filename).startswith(_STATE.pytest_dirs):
            return False
    return bool(fns)


def _installed_plugin_files():
    """The source files of the pytest plugins installed outside every
    writable place (pytest11 entry points), read when the guard loads,
    before repository code could patch importlib.metadata."""
    files = set()
    try:
        import importlib.metadata as md
        eps = md.entry_points()
        eps = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
        for ep in eps:
            mod = ep.value.split(":", 1)[0].strip()
            dist = getattr(ep, "dist", None)
            if not mod or dist is None:
                continue
            rel = mod.replace(".", "/")
            for cand in (rel + ".py", rel + "/__init__.py"):
                path = os.path.normpath(str(dist.locate_file(cand)))
                if os.path.isfile(path) and not path.startswith(_STATE.untrusted_roots):
                    files.add(path)
    except Exception:
        pass
    return frozenset(files)


def _installed_wrapper(cur, val, seen=None):
    """Whether cur is an installed pytest plugin's wrapper around val: a
    plain function defined in the module of a plugin installed outside
    every place the patch or the tests can write (pytest11 entry points),
    that keeps the very object it replaced (in a closure cell or a module
    global it names), directly or through a chain of such wrappers.
    Hypothesis's pytest plugin wraps FixtureFunctionMarker.__call__ this way
    each time one of pytester's inner sessions imports it afresh.

    Both conditions are needed: the standard library is full of functions
    that keep a function they were given and do something else with it
    (contextlib.contextmanager's helper returns a context manager instead
    of running a test), and of no-ops (nullcontext.__exit__) that would
    neuter a check. The patch can trigger a plugin's wrapper, not write one."""
    if seen is None:
        seen = set()
    if id(cur) in seen or len(seen) > 64 or not isinstance(cur, types.FunctionType):
        return False
    seen.add(id(cur))
    if os.path.normpath(cur.__code__.co_filename) not in _STATE.plugin_files:
        return False
    orig = [val]
    if isinstance(val, (classmethod, staticmethod)):
        orig.append(val.__func__)
    refs = []
    for cell in cur.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    g = cur.__globals__
    refs.extend(g[n] for n in cur.__code__.co_names if n in g)
    for r in refs:
        if any(r is o for o in orig):
            return True
    for r in refs:
        if _installed_wrapper(r, val, seen):
            return True
    return False


def _is_test_file(path):
    parts = path.split("/")
    base = parts[-1]
    if base == "conftest.py":
        return True
    if any(p in _TEST_DIRS for p in parts[:-1]):
        return True
    return (base.startswith("test_") and base.endswith(".py")) or base.endswith("_test.py")


def _trusted_file(path):
    if not path or not path.startswith("/"):
        return False
    path = os.path.normpath(path)
    if path == _HERE:
        return True
    if path in _STATE.baseline_files:
        return True
    if path.startswith(_STATE.pytest_dirs):
        return True
    if path.startswith(_STATE.untrusted_roots) or path + "/" in _STATE.untrusted_roots:
        return _is_test_file(path)
    # Anywhere else (site-packages, the standard library) counts as
    # installed only if it was not written since the guard loaded: in an
    # image every file belongs to the sandbox user, and code under test
    # could drop a module there and import it. ctime cannot be set back.
    try:
        if os.stat(path).st_ctime > _STATE.started:
            return False
    except OSError:
        return False
    return True


def _trusted_obj(obj):
    f = _file_of(obj)
    return f != "<unknown>" and _trusted_file(f)


class _State:
    def __init__(self):
        self.active = False
        self.config = None
        self.session = None
        self.pm = None
        self.machinery = None
        self.baseline_files = set()
        # pytest's own packages (_pytest, pytest), with a trailing "/".
        self.pytest_dirs = ()
        self.approved = {}  # id(hookimpl) -> hookimpl
        self.hookcallers = []  # (name, caller, hookexec, type)
        self.inner_hookexec = None
        self.findings = []
        self.seen_findings = set()
        self.tests = {}  # nodeid -> [status, ...]
        self.canaries = {}  # nodeid -> planted status
        self.canary_note = ""
        self.items = {}  # id(item) -> (item, type, code)
        self.tr = None
        self.tr_tw = None
        self.tr_file = None
        self.exitstatus = None
        self.canary_failed = set()
        self.written = False
        self.ntests = 0
        self.test_hashes = {}
        self.existing_files = []
        self.plugin_files = frozenset()
        self.untrusted_roots = _UNTRUSTED_ROOTS
        self.started = float("inf")


_STATE = _State()


def _flag(msg):
    if msg not in _STATE.seen_findings and len(_STATE.findings) < 50:
        _STATE.seen_findings.add(msg)
        _STATE.findings.append(msg)


def _hash_file(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _snapshot_tests():
    """Hash the test files named on the command line and the conftest.py
    files above them, before any repository code runs: code under test
    that rewrites a test module before pytest imports it is caught at
    collection's end. (A rewritten cached .pyc is not; see guard.go.)"""
    files = set()
    budget = 5000
    cwd = os.getcwd()
    for arg in sys.argv[1:]:
        if arg.startswith("-"):
            continue
        p = os.path.normpath(os.path.join(cwd, arg.split("::", 1)[0]))
        if os.path.isfile(p) and p.endswith(".py"):
            files.add(p)
        elif os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
                for n in names:
                    if n.endswith(".py") and budget > 0:
                        budget -= 1
                        files.add(os.path.join(root, n))
        else:
            continue
        d = os.path.dirname(p) if os.path.isfile(p) else p
        while d.startswith(cwd):
            c = os.path.join(d, "conftest.py")
            if os.path.isfile(c):
                files.add(c)
            if d == cwd:
                break
            d = os.path.dirname(d)
    return {f: _hash_file(f) for f in sorted(files)}


def _check_tests():
    for f, h in _STATE.test_hashes.items():
        if _hash_file(f) != h:
            _flag("test file %s changed during the run" % f)


def _restore_env():
    """Put back what the harness set for this process only."""
    for k, v in (_CONF or {}).get("restore_env", {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def pytest_addhooks(pluginmanager):
    # Called as this plugin is registered: before conftests and before any
    # repository module is imported.
    if not _STATE.active or _STATE.pm is not None:
        return
    _STATE.pm = pluginmanager
    _STATE.inner_hookexec = getattr(pluginmanager, "_inner_hookexec", None)
    for b in _STATE.machinery.preloaded():
        _flag(b)
    for name, hc in list(vars(pluginmanager.hook).items()):
        for impl in hc.get_hookimpls():
            # Plugins loaded before this one (pytest's own, and -p options
            # of the repository's configuration) are approved only from
            # trusted files; see _check_registry.
            f = _file_of(impl.function)
            if _trusted_file(f):
                _STATE.approved[id(impl)] = impl
                _STATE.baseline_files.add(os.path.normpath(f))
        _STATE.hookcallers.append((name, hc, getattr(hc, "_hookexec", None), type(hc)))


def _check_registry():
    pm = _STATE.pm
    if pm is None:
        return
    if getattr(pm, "_inner_hookexec", None) is not _STATE.inner_hookexec:
        _flag("pluggy: the plugin manager's hook executor was replaced")
    relay = vars(pm.hook)
    for name, hc, hookexec, typ in _STATE.hookcallers:
        if relay.get(name) is not hc:
            _flag("pluggy: hook %s was replaced" % name)
        elif type(hc) is not typ or getattr(hc, "_hookexec", None) is not hookexec:
            _flag("pluggy: hook %s calls through a replaced executor" % name)
    mine = 0
    for name, hc in list(relay.items()):
        try:
            impls = hc.get_hookimpls()
        except Exception:
            _flag("pluggy: hook %s cannot list its implementations" % name)
            continue
        for impl in impls:
            if id(impl) in _STATE.approved and _STATE.approved[id(impl)] is impl:
                continue
            f = _file_of(impl.function)
            if f == _HERE:
                mine += 1
            if not _trusted_file(f):
                _flag("plugin %r registered hook %s from %s" % (impl.plugin_name, name, f))
                continue
            _STATE.approved[id(impl)] = impl
    if pm.get_plugin("agora_guard") is None and not any(p is sys.modules.get(__name__) for p in pm.get_plugins()):
        _flag("the guard plugin was unregistered")


def _check_trace():
    t, p = sys.gettrace(), sys.getprofile()
    if t is not None:
        _flag("a trace function (%s) was active while reports were made" % _file_of(t))
    if p is not None:
        _flag("a profile function (%s) was active while reports were made" % _file_of(p))
    gt = getattr(threading, "gettrace", None)
    gp = getattr(threading, "getprofile", None)
    if gt is not None and gt() is not None:
        _flag("a thread trace function (%s) was installed" % _file_of(gt()))
    if gp is not None and gp() is not None:
        _flag("a thread profile function (%s) was installed" % _file_of(gp()))


def _check_all(full=True):
    if not _STATE.active:
        return
    for b in _STATE.machinery.check(full):
        _flag("machinery: " + b)
    _check_registry()
    _check_trace()
    tr = _STATE.tr
    if tr is not None:
        cls = type(tr)
        for k, v in list(vars(tr).items()):
            if callable(v) and not isinstance(v, type) and k in vars(cls):
                _flag("terminal reporter: method %s overridden on the instance" % k)
        tw = getattr(tr, "_tw", None)
        if tw is not _STATE.tr_tw or getattr(tw, "_file", None) is not _STATE.tr_file:
            _flag("terminal reporter: its writer or output file was replaced")


def _primary(config):
    return _STATE.active and config is _STATE.config


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not _STATE.active or _STATE.config is not None:
        return
    _STATE.config = config
    _restore_env()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    if not _primary(session.config):
        return
    _STATE.session = session
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        _STATE.tr = tr
        _STATE.tr_tw = getattr(tr, "_tw", None)
        _STATE.tr_file = getattr(_STATE.tr_tw, "_file", None)
    _check_all()


def _canary_fn(name, fail, modname):
    # A failing canary fails the way pytest.fail(pytrace=False) does: a
    # real failed report through the same runner, reports and terminal,
    # but rendered as its message. Rendering a traceback (pytest parses the
    # frame's whole source file and scans sys.modules for it) was most of
    # the guard's cost on small suites. Rewrites that only touch assertion
    # failures must patch the machinery, which the snapshot catches.
    if fail:
        failed = _FAILED

        def fn():
            raise failed("agora canary: planted to fail", pytrace=False)
    else:
        def fn():
            return None
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = modname
    return fn


def _new_function(parent, name, fn, **kw):
    # Node.from_parent arrived in pytest 5.4; before it, nodes were
    # constructed directly (SWE-bench's images and pytest's own old
    # versions run such pytests).
    make = getattr(pytest.Function, "from_parent", None)
    if make is not None:
        return make(parent, name=name, callobj=fn, **kw)
    return pytest.Function(name, parent=parent, callobj=fn, **kw)


def _plant(session, items):
    planted = (_CONF or {}).get("canaries") or []
    if not planted:
        return
    Module = pytest.Module
    # A canary goes before an item whose module it joins, where no class
    # is open, so no real fixture is torn down and set up again for it.
    spots = []
    for i, it in enumerate(items):
        mod = it.getparent(Module)
        if mod is None or it.parent is None:
            continue
        prev = items[i - 1] if i > 0 else None
        if prev is None or prev.getparent(Module) is not mod or prev.parent is mod:
            spots.append((i, mod))
    if not spots:
        _STATE.canary_note = "no place to plant canaries"
        return
    rng = random.SystemRandom()
    inserts = []
    for c in planted:
        i, mod = rng.choice(spots)
        fn = _canary_fn(c["name"], c["fail"], getattr(getattr(mod, "obj", None), "__name__", "tests"))
        kw = {}
        try:
            from _pytest.fixtures import FuncFixtureInfo

            kw["fixtureinfo"] = FuncFixtureInfo(argnames=(), initialnames=(), names_closure=[], name2fixturedefs={})
        except Exception:
            pass
        try:
            item = _new_function(mod, c["name"], fn, **kw)
        except Exception:
            item = _new_function(mod, c["name"], fn)
        _STATE.canaries[item.nodeid] = "FAILED" if c["fail"] else "PASSED"
        inserts.append((i, item))
    # Insert from the back so earlier indexes stay valid.
    for i, item in sorted(inserts, key=lambda x: -x[0]):
        items.insert(i, item)


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(session, config, items):
    yield
    if not _primary(config):
        return
    try:
        _plant(session, items)
    except Exception as e:
        _STATE.canary_note = "planting canaries failed: %r" % (e,)
    for it in items:
        obj = it.__dict__.get("_obj")
        _STATE.items[id(it)] = (it, type(it), _code(obj) if obj is not None else None)


def pytest_collection_finish(session):
    if _primary(session.config):
        _check_all()
        _check_tests()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    # Before Session counts it: a canary's planted failure must not
    # change the exit status or trip -x/--maxfail.
    if not _STATE.active or report.nodeid not in _STATE.canaries:
        return
    if report.failed and not hasattr(report, "wasxfail") and _STATE.session is not None:
        key = (report.nodeid, report.when)
        if key not in _STATE.canary_failed:
            _STATE.canary_failed.add(key)
            _STATE.session.testsfailed -= 1


def _status(when, outcome, wasxfail):
    if when == "call":
        if outcome == "failed":
            return "FAILED"
        if outcome == "passed":
            return "XPASS" if wasxfail else "PASSED"
        return "XFAIL" if wasxfail else "SKIPPED"
    if outcome == "failed":
        return "ERROR"
    if outcome == "skipped":
        return "XFAIL" if wasxfail else "SKIPPED"
    return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    if not _primary(item.config):
        yield
        return
    exc = call.excinfo
    snap = _STATE.items.get(id(item))
    if snap is not None and snap[0] is item:
        if type(item) is not snap[1]:
            _flag("test item %s changed class" % item.nodeid)
        if "runtest" in vars(item):
            _flag("test item %s has its runtest replaced" % item.nodeid)
        obj = item.__dict__.get("_obj")
        if snap[2] is not None and obj is not None and _code(obj) is not snap[2]:
            _flag("test item %s runs a replaced function" % item.nodeid)
    out = yield
    _check_trace()
    try:
        rep = out.get_result()
    except BaseException:
        return
    outcome = getattr(rep, "outcome", None)
    wasxfail = hasattr(rep, "wasxfail")
    if exc is not None and outcome == "passed" and not wasxfail:
        _flag("report of %s (%s) says passed although it raised %s" % (item.nodeid, call.when, exc.typename))
    st = _status(call.when, outcome, wasxfail)
    if st is not None:
        _STATE.tests.setdefault(item.nodeid, []).append(st)


def pytest_runtest_logfinish(nodeid, location):
    if _STATE.active and _STATE.session is not None:
        _STATE.ntests += 1
        _check_all(_STATE.ntests % _FULL_EVERY == 0)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    yield
    if _primary(session.config):
        _check_all()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if not _primary(config) or _STATE.written:
        return
    _STATE.written = True
    _check_all()
    _check_tests()
    s = _STATE.session
    status = getattr(s, "exitstatus", None)
    body = json.dumps(
        {
            "version": 1,
            "exitstatus": int(status) if status is not None else None,
            "findings": _STATE.findings,
            "tests": _STATE.tests,
            "canaries": _STATE.canaries,
            "canary_note": _STATE.canary_note,
            "existing_files": _STATE.existing_files,
        },
        sort_keys=True,
    )
    if _MAC is None:
        return
    m = _MAC.copy()
    m.update(body.encode())
    mac = m.hexdigest()
    try:
        with open(_CONF["record"], "w", encoding="utf-8") as f:
            json.dump({"body": body, "mac": mac}, f)
    except Exception:
        pass


# Last, once every name above exists; still before any repository code.
if _CONF is not None and "error" not in _CONF:
    _STATE.active = True
    _STATE.started = time.time()
    # The repository is wherever the harness put it: /repo on the host,
    # /testbed in an image.
    _repo = _CONF.get("repo_dir") or ""
    if _repo.startswith("/") and _repo != "/":
        _STATE.untrusted_roots = _UNTRUSTED_ROOTS + (os.path.normpath(_repo) + "/",)
    _STATE.pytest_dirs = tuple(
        os.path.dirname(os.path.abspath(m.__file__)) + "/"
        for m in (sys.modules.get("_pytest"), sys.modules.get("pytest"))
        if m is not None and getattr(m, "__file__", None)
    )
    _STATE.machinery = _Machinery()
    _STATE.plugin_files = _installed_plugin_files()
    _STATE.test_hashes = _snapshot_tests()
    # Which expected ids' files are the repository's (guard.go, checkGuard):
    # looked up now, before any repository code can create or remove one.
    _STATE.existing_files = [
        f for f in (_CONF.get("expected_files") or [])[:4096]
        if isinstance(f, str) and os.path.lexists(os.path.join(os.getcwd(), f))
    ]
