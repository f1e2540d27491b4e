"""A fixture agent in the style of Ridges' AI_PROXY_URL era (2025), written
for Agora's tests; it holds no Ridges code.

It imports optional libraries inside try/except (one of them absent from
any sandbox), checks syntax with compile(), reads every input_dict field
Ridges gave, embeds with the base miner's {"text": ...} body and asks for
the fix through /agents/inference, naming a Ridges model that the
validator aliases to its own.
"""
import json
import os
import re
import urllib.request

try:
    import numpy as np
except ImportError:
    np = None
try:
    import requests
except ImportError:
    requests = None
try:
    import transformers_not_in_any_sandbox  # noqa: F401
except ImportError:
    transformers_not_in_any_sandbox = None

PROXY = os.getenv("AI_PROXY_URL", "http://sandbox_proxy")
FIELDS = ("instance_id", "repo", "base_commit", "problem_statement", "run_id")


def post(path, body):
    req = urllib.request.Request(PROXY + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def parses(src):
    try:
        compile(src, "<patched>", "exec")
        return True
    except SyntaxError:
        return False


def agent_main(input_dict):
    missing = [k for k in FIELDS if not input_dict.get(k)]
    if missing:
        raise ValueError("input_dict lacks %s" % missing)
    if np is None or requests is None:
        raise RuntimeError("numpy and requests must be importable in the sandbox")
    run_id = input_dict["run_id"]
    vec = post("/agents/embedding", {"run_id": run_id, "text": input_dict["problem_statement"]})["embedding"]
    if not float(np.linalg.norm(np.array(vec, dtype=float))) > 0:
        raise RuntimeError("a zero embedding")
    resp = requests.post(PROXY + "/agents/inference", json={
        "run_id": run_id, "model": "moonshotai/Kimi-K2-Instruct", "temperature": 0.0,
        "messages": [{"role": "user", "content": input_dict["problem_statement"]}],
    }, timeout=120)
    resp.raise_for_status()
    text = resp.json()  # the completion, as a JSON string
    m = re.search(r"```diff\n(.*?)```", text, re.S)
    if not m or not parses("x = 1\n") or parses("x = (\n"):
        return {"patch": ""}
    return {"patch": m.group(1)}
