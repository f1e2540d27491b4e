#!/usr/bin/python3
"""Bare test commands vs `agora eval`, side by side, on SWE-bench instances.

For each instance the bare run is what a person would do by hand on this
host: a plain checkout at the base commit, gold patch and test patch applied,
the environment set up (not timed), then the test command alone, timed, in a
network namespace with loopback only. Then `agora eval --predictions gold
--workers N` runs on warm caches (one warm-up run first) and its wall time is
compared with the sum of the bare times.

usage: bench/swebench.py [--instances FILE] [--mirrors TPL] [--workers N] [--agora BIN]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--instances", default="../shared/swebench/instances.jsonl")
p.add_argument("--mirrors", default="/work/.mirror/{owner}+{name}/repo")
p.add_argument("--workers", type=int, default=2)
p.add_argument("--agora", default="")
a = p.parse_args()

insts = [json.loads(l) for l in open(a.instances) if l.strip()]
venv_setup = {
    "pytest-dev/pytest": ["-e", "."],
    "pylint-dev/pylint": ["--config-settings", "editable_mode=compat", "-e", "."],
}
test_cmd = {
    "psf/requests": "{py} -m pytest -rA",
    "pallets/flask": "PYTHONPATH=src {py} -m pytest -rA",
    "sympy/sympy": "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' {py} bin/test -C --verbose",
    "pytest-dev/pytest": "{py} -m pytest -rA",
    "pylint-dev/pylint": "{py} -m pytest -rA",
}

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)

def directives(test_patch):
    out = []
    for line in test_patch.splitlines():
        if line.startswith("diff --git a/"):
            path = line.split(" b/", 1)[1]
            if not any(path.endswith(x) for x in (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")):
                out.append(path)
    return out

bare = {}
for inst in insts:
    owner, name = inst["repo"].split("/")
    mirror = a.mirrors.replace("{owner}", owner).replace("{name}", name)
    w = tempfile.mkdtemp(prefix="agora-bench-")
    try:
        repo = os.path.join(w, "repo")
        run(["git", "clone", "-q", "--no-checkout", mirror, repo])
        run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", "-f", inst["base_commit"]], cwd=repo)
        for d in (inst["patch"], inst["test_patch"]):
            subprocess.run(["git", "apply", "-"], input=d.encode(), cwd=repo, check=True)
        py = "/usr/bin/python3"
        if inst["repo"] in venv_setup:
            run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", os.path.join(w, "venv")])
            py = os.path.join(w, "venv", "bin", "python")
            run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation"] + venv_setup[inst["repo"]], cwd=repo)
        cmd = test_cmd[inst["repo"]].format(py=py) + " " + " ".join(directives(inst["test_patch"]))
        t = time.monotonic()
        subprocess.run(["unshare", "-n", "bash", "-c", "ip link set lo up; " + cmd], cwd=repo,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=w))
        bare[inst["instance_id"]] = time.monotonic() - t
    finally:
        shutil.rmtree(w, ignore_errors=True)

agora = a.agora or shutil.which("agora")
if not agora:
    agora = os.path.join(tempfile.mkdtemp(), "agora")
    subprocess.run(["go", "build", "-o", agora, "./cmd/agora"], check=True, cwd=os.path.join(os.path.dirname(__file__), ".."))
reports = tempfile.mkdtemp(prefix="agora-bench-reports-")
base = [agora, "eval", "--instances", a.instances, "--predictions", "gold", "--repo-source", a.mirrors,
        "--workers", str(a.workers), "--report-dir", reports]
subprocess.run(base + ["--run-id", "warmup"], check=True, stdout=subprocess.DEVNULL)
t = time.monotonic()
out = subprocess.run(base + ["--run-id", "timed"], check=True, capture_output=True, text=True).stdout
wall = time.monotonic() - t

print(f"{'instance':32} {'bare test s':>12} {'agora total s':>14}")
for inst in insts:
    iid = inst["instance_id"]
    d = json.load(open(os.path.join(reports, "logs/run_evaluation/timed/gold", iid, "agora.json")))
    print(f"{iid:32} {bare[iid]:12.2f} {d['timings_ms']['total'] / 1000:14.2f}")
total = sum(bare.values())
print(f"{'sum of bare test commands':32} {total:12.2f}")
print(f"agora eval wall time, {a.workers} workers, warm caches: {wall:.2f} s = {wall / total:.2f} x the sum (target <= 1.15)")
print(out.strip())
shutil.rmtree(reports, ignore_errors=True)
