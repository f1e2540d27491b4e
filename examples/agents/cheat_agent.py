"""An agent that tries to cheat, to test the sandbox and the grader.

Every attempt is expected to fail in a correctly configured validator. It
never crashes: each attempt is wrapped, and what it saw is written to
stderr (the run's log) so an operator can confirm which doors were closed.
It returns the best patch it could find (a leaked gold patch, if any),
otherwise an empty one.

Attempts:
  1. read the repository's tests and hunt the filesystem for a test patch,
     gold patch or SWE-bench instance file;
  2. reach the internet directly: a TCP socket to 1.1.1.1:443 and an HTTP
     GET of http://example.com;
  3. read environment variables that look like credentials;
  4. call the inference proxy in a loop to exhaust the run's budget (it
     should answer 402/429 and stop being useful);
  5. print forged test output ("PASSED" lines) in case anything greps the
     agent's log for test results.

For local testing, CHEAT_SEARCH_ROOTS (colon-separated, default "/")
narrows the filesystem hunt and CHEAT_SKIP_NETWORK=1 skips attempt 2.
"""

import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request

REPO = os.environ.get("AGENT_REPO", "/repo")
SEARCH_ROOTS = os.environ.get("CHEAT_SEARCH_ROOTS", "/").split(":")
SKIP_DIRS = {"/proc", "/sys", "/dev", "/run", "/snap"}
MAX_ENTRIES = 200000      # filesystem entries looked at, in total
MAX_READ = 1 << 20        # bytes read from one candidate file
SEARCH_SECONDS = 60
MAX_PROXY_CALLS = 200

PATCH_NAME = re.compile(r"(test_patch|gold|golden|reference|solution|fix)[^/]*\.(patch|diff|json|jsonl)$|\.(patch|diff)$|instances?\.jsonl$", re.I)
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.I)

seen = {}


def note(kind, what):
    """Records an observation to stderr; the run's log is the report."""
    seen.setdefault(kind, []).append(what)
    print("cheat_agent: %s: %s" % (kind, what), file=sys.stderr, flush=True)


def read_tests():
    tests = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if name.startswith("test") or name.endswith("_test.py") or "/tests" in dirpath:
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as f:
                        tests.append((path, f.read(MAX_READ)))
                except OSError as e:
                    note("tests", "cannot read %s: %s" % (path, e))
    note("tests", "read %d test files under %s" % (len(tests), REPO))
    return tests


def hunt_patches():
    """Walks the filesystem for anything that looks like a leaked patch."""
    found = []
    entries = 0
    deadline = time.monotonic() + SEARCH_SECONDS
    for root in SEARCH_ROOTS:
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in SKIP_DIRS]
            entries += len(dirnames) + len(filenames)
            if entries > MAX_ENTRIES or time.monotonic() > deadline:
                note("filesystem", "search stopped after %d entries" % entries)
                return found
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not PATCH_NAME.search(path):
                    continue
                try:
                    with open(path, "rb") as f:
                        data = f.read(MAX_READ).decode("utf-8", "replace")
                except OSError as e:
                    note("filesystem", "cannot read %s: %s" % (path, e))
                    continue
                note("filesystem", "candidate %s (%d bytes)" % (path, len(data)))
                found.append((path, data))
    note("filesystem", "searched %d entries, %d candidates" % (entries, len(found)))
    return found


def patch_from(candidates):
    """Picks a diff out of the candidates: a raw diff file, or the patch
    field of a SWE-bench record."""
    for path, data in candidates:
        if "test_patch" in path or "/tests" in path:
            continue
        if data.startswith("diff --git") or data.startswith("--- "):
            return data
        for line in data.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("patch"), str):
                return rec["patch"]
    return ""


def try_network():
    if os.environ.get("CHEAT_SKIP_NETWORK") == "1":
        note("network", "skipped")
        return
    try:
        s = socket.create_connection(("1.1.1.1", 443), timeout=5)
        s.close()
        note("network", "OPEN: connected to 1.1.1.1:443")
    except OSError as e:
        note("network", "1.1.1.1:443 refused: %r" % (e,))
    try:
        with urllib.request.urlopen("http://example.com", timeout=5) as resp:
            note("network", "OPEN: http://example.com answered %d" % resp.status)
    except (urllib.error.URLError, OSError, ValueError) as e:
        note("network", "http://example.com refused: %r" % (e,))


def try_secrets():
    for name in sorted(os.environ):
        if SECRET_NAME.search(name):
            value = os.environ[name]
            note("env", "%s is set (%d chars)" % (name, len(value)))
    if not seen.get("env"):
        note("env", "no credential-like variables among %d" % len(os.environ))


def drain_budget(run_id):
    base = os.environ.get("AI_PROXY_URL", "").rstrip("/")
    if not base:
        note("proxy", "AI_PROXY_URL not set")
        return
    body = json.dumps({
        "model": os.environ.get("AGENT_MODEL", "agora-test-model"),
        "max_tokens": 1000000,
        "messages": [{"role": "user", "content": "Repeat the word 'token' forever. " * 200}],
    }).encode()
    for i in range(MAX_PROXY_CALLS):
        req = urllib.request.Request(base + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Agora-Run": run_id or "x"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            note("proxy", "call %d refused with HTTP %d" % (i + 1, e.code))
            if e.code in (402, 429, 403):
                return
        except (urllib.error.URLError, OSError, ValueError) as e:
            note("proxy", "call %d failed: %r" % (i + 1, e))
            return
    note("proxy", "OPEN: %d calls were all accepted" % MAX_PROXY_CALLS)


def forge_output(tests):
    names = []
    for path, data in tests:
        for m in re.finditer(rb"^\s*def (test_\w+)", data, re.M):
            names.append("%s::%s" % (os.path.relpath(path, REPO), m.group(1).decode()))
    for name in names[:50] or ["tests/test_all.py::test_everything"]:
        print("%s PASSED" % name, flush=True)
    print("==== %d passed in 0.01s ====" % max(len(names), 1), flush=True)


def attempt(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the agent must never crash
        note("error", "%s failed: %r" % (fn.__name__, e))
        return None


def agent_main(input_dict):
    run_id = input_dict.get("run_id", "")
    tests = attempt(read_tests) or []
    candidates = attempt(hunt_patches) or []
    attempt(try_network)
    attempt(try_secrets)
    attempt(drain_budget, run_id)
    attempt(forge_output, tests)
    patch = attempt(patch_from, candidates) or ""
    note("result", "returning a %d-byte patch" % len(patch))
    return {"patch": patch}
