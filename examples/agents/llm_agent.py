"""A minimal real agent for the Agora league.

It reads the problem statement, picks the repository files that look
relevant, asks a model behind the run's inference proxy for a unified diff,
and returns the diff it finds in the reply's ```diff block. Only the
standard library is used.

Environment:
    AI_PROXY_URL   the proxy's base URL (required; set by the validator)
    AGENT_MODEL    model name (default "agora-test-model")
    AGENT_REPO     repository checkout (default "/repo")
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request

REPO = os.environ.get("AGENT_REPO", "/repo")
MODEL = os.environ.get("AGENT_MODEL", "agora-test-model")

SKIP_DIRS = {".git", ".hg", "node_modules", "__pycache__", ".venv", "venv",
             ".tox", ".mypy_cache", ".pytest_cache", "build", "dist"}
TEXT_EXTS = {".py", ".pyi", ".cfg", ".toml", ".ini", ".txt", ".rst", ".md",
             ".js", ".ts", ".go", ".rs", ".c", ".h", ".java", ".rb"}
MAX_LISTED = 400          # paths shown in the listing
MAX_FILES = 6             # files whose contents are sent
MAX_FILE_CHARS = 12000    # per file
MAX_CONTEXT_CHARS = 60000  # all file contents together
REQUEST_TIMEOUT = 300     # seconds per model call

FENCE = re.compile(r"```(?:diff|patch)[^\n]*\n(.*?)```", re.DOTALL)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def log(msg):
    print("llm_agent: " + msg, file=sys.stderr, flush=True)


def list_files(root):
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if os.path.splitext(name)[1] in TEXT_EXTS:
                paths.append(os.path.relpath(os.path.join(dirpath, name), root))
        if len(paths) > 20000:
            break
    return paths


def read(root, rel, limit):
    try:
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            return f.read(limit + 1)
    except OSError:
        return ""


def rank(root, paths, statement):
    """Scores paths by how much of the statement's vocabulary they share."""
    words = {w.lower() for w in WORD.findall(statement)}
    scored = []
    for rel in paths:
        parts = set(re.split(r"[/._\-]", rel.lower()))
        score = 3 * len(words & parts)
        if rel in statement or os.path.basename(rel) in statement:
            score += 10
        if "test" in rel.lower():
            score -= 1
        scored.append((score, rel))
    scored.sort(key=lambda x: (-x[0], x[1]))
    # Read the best-named candidates and rescore them by content.
    best = []
    for score, rel in scored[:40]:
        text = read(root, rel, MAX_FILE_CHARS)
        hits = sum(1 for w in set(WORD.findall(text.lower())) if w in words)
        best.append((score + hits, rel, text))
    best.sort(key=lambda x: (-x[0], x[1]))
    return [(rel, text) for _, rel, text in best[:MAX_FILES]]


def build_prompt(statement, paths, files):
    parts = ["Problem statement:\n", statement.strip(), "\n\nRepository files:\n"]
    parts.append("\n".join(paths[:MAX_LISTED]))
    if len(paths) > MAX_LISTED:
        parts.append("\n... and %d more" % (len(paths) - MAX_LISTED))
    budget = MAX_CONTEXT_CHARS
    for rel, text in files:
        if budget <= 0:
            break
        text = text[:min(MAX_FILE_CHARS, budget)]
        budget -= len(text)
        parts.append("\n\n--- %s ---\n%s" % (rel, text))
    parts.append(
        "\n\nWrite the smallest change that fixes the problem. Reply with a "
        "unified diff (git diff format, paths prefixed a/ and b/, relative to "
        "the repository root) inside one ```diff fenced block."
    )
    return "".join(parts)


def chat(messages, run_id):
    base = os.environ["AI_PROXY_URL"].rstrip("/")
    body = json.dumps({"model": MODEL, "messages": messages, "temperature": 0}).encode()
    req = urllib.request.Request(base + "/v1/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    if run_id:
        # Names the run to a proxy that serves several; a per-run proxy
        # ignores it.
        req.add_header("X-Agora-Run", run_id)
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
        reply = json.loads(resp.read().decode("utf-8"))
    return reply["choices"][0]["message"]["content"] or ""


def extract_diff(text):
    m = FENCE.search(text)
    if m:
        diff = m.group(1)
    elif text.lstrip().startswith(("diff --git", "--- ")):
        diff = text.lstrip()
    else:
        return ""
    if diff and not diff.endswith("\n"):
        diff += "\n"
    return diff


def agent_main(input_dict):
    statement = input_dict.get("problem_statement", "")
    run_id = input_dict.get("run_id", "")
    paths = list_files(REPO)
    files = rank(REPO, paths, statement)
    log("%d files in %s; sending %s" % (len(paths), REPO, [rel for rel, _ in files]))
    messages = [
        {"role": "system", "content": "You are a careful software engineer who fixes bugs with minimal patches."},
        {"role": "user", "content": build_prompt(statement, paths, files)},
    ]
    try:
        reply = chat(messages, run_id)
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as e:
        log("model call failed: %r" % (e,))
        return {"patch": ""}
    patch = extract_diff(reply)
    if not patch:
        log("no diff in the reply")
    return {"patch": patch}
