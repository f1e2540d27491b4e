"""Check Agora's run files with SWE-bench's own code (a local check only).

Usage: python3 swebench_check.py MIRROR REPORT_DIR RUN_ID INSTANCES

MIRROR is a git directory of SWE-bench/SWE-bench. Its functions are read
from HEAD and run here without their package (which needs docker and
datasets): make_run_report, with a Docker client that has no container or
image left, and parse_eval_script + record_test_exit_code. It writes
SWE-bench's run report into REPORT_DIR/swebench/, and prints a JSON object
mapping each instance id with an eval_script to the eval.sh SWE-bench
writes for it.
"""

import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Optional

mirror, report_dir, run_id, instances_path = sys.argv[1:]


def source(path):
    return subprocess.run(
        ["git", "--git-dir", mirror, "show", "HEAD:" + path],
        capture_output=True, check=True, text=True,
    ).stdout


def load(ns, path, names=None):
    """Run the top-level definitions of path (those in names) in ns."""
    tree = ast.parse(source(path))
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if names is None:
            body.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            body.append(node)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in names for t in node.targets
        ):
            body.append(node)
    exec(compile(ast.Module(body, []), path, "exec"), ns)


ns = {"Path": Path, "json": json, "Optional": Optional, "re": __import__("re"),
      "docker": types.SimpleNamespace(DockerClient=object)}
load(ns, "swebench/harness/constants/__init__.py",
     {"RUN_EVALUATION_LOG_DIR", "LOG_INSTANCE", "LOG_REPORT", "LOG_TEST_OUTPUT",
      "END_TEST_OUTPUT", "TEST_EXIT_CODE", "TEST_EXIT_CODE_VAR"})
load(ns, "swebench/harness/infra_failure.py")
ns["list_images"] = lambda client: set()
load(ns, "swebench/harness/reporting.py", {"make_run_report"})
load(ns, "swebench/harness/utils.py", {"parse_eval_script", "record_test_exit_code"})


class Containers:
    def list(self, all=False):
        return []


class Client:
    containers = Containers()


instances = [json.loads(line) for line in Path(instances_path).read_text().splitlines() if line.strip()]
predictions = {
    i["instance_id"]: {"instance_id": i["instance_id"], "model_name_or_path": "gold", "model_patch": i["patch"]}
    for i in instances
}
out = Path(report_dir, "swebench").resolve()
os.chdir(report_dir)
with contextlib.redirect_stdout(io.StringIO()):
    ns["make_run_report"](predictions, instances, run_id, Client(), str(out))

scripts = {}
for i in instances:
    if i.get("eval_script"):
        lines = ns["record_test_exit_code"](ns["parse_eval_script"](i["eval_script"]))
        scripts[i["instance_id"]] = "\n".join(["#!/bin/bash", "set -uxo pipefail"] + lines) + "\n"
print(json.dumps(scripts))
