"""A fixture agent in the style of Ridges' SANDBOX_PROXY_URL era (its
inference gateway), written for Agora's tests; it holds no Ridges code.

It finds the proxy and its run in SANDBOX_PROXY_URL and RUN_ID, embeds 32
texts at once through /api/embedding with {"text": ...} bodies (every one
must be answered), asks /api/inference, which answers {"content",
"tool_calls"}, and returns the diff as a bare string.
"""
import json
import os
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PROXY = os.environ["SANDBOX_PROXY_URL"]
RUN_ID = os.environ["RUN_ID"]


def post(path, body):
    req = urllib.request.Request(PROXY + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.loads(resp.read())


def embed(text):
    return post("/api/embedding", {"run_id": RUN_ID, "text": text})["embedding"]


def agent_main(input_dict):
    if input_dict.get("run_id") != RUN_ID:
        raise ValueError("input_dict run_id %r, RUN_ID %r" % (input_dict.get("run_id"), RUN_ID))
    chunks = ["chunk %d of %s" % (i, input_dict["instance_id"]) for i in range(32)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        vecs = list(pool.map(embed, chunks))
    if len(vecs) != 32 or not all(vecs):
        raise RuntimeError("%d of 32 embeddings answered" % sum(1 for v in vecs if v))
    out = post("/api/inference", {
        "evaluation_run_id": RUN_ID, "model": "moonshotai/Kimi-K2-Instruct", "temperature": 0.0,
        "messages": [{"role": "user", "content": input_dict["problem_statement"]}],
    })
    if out.get("tool_calls") != []:
        raise RuntimeError("tool_calls %r" % out.get("tool_calls"))
    m = re.search(r"```diff\n(.*?)```", out["content"], re.S)
    return m.group(1) if m else ""
