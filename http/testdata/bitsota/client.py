#!/usr/bin/env python3
"""A BitSota research client, stdlib only, for Agora's compatibility surface.

It speaks the wire BitSota's miner/research_coordinator_client.py and
validator/research_validator_client.py speak: BT-AUTH-V1 headers (X-Hotkey,
X-Timestamp in seconds, X-Signature in bare hex) over

    BT-AUTH-V1 \\n METHOD \\n path \\n query \\n timestamp \\n sha256(canonical body)

where path is the route's own (/api/v1/...), without the base URL's path,
the query is urlencode(params, doseq=True) with None dropped, and the
canonical body is json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=True) while the body sent is plain json.dumps (as requests'
json= does). The sr25519 signature comes from sr25519.py beside it (stdlib
only, signing context "substrate", as substrate-interface's Keypair.sign);
each role's key is derived from the seed "bitsota-<role>" (python3
sr25519.py address bitsota-owner prints its address).

It runs a whole bounty against BT_BASE (http://host/bitsota): an owner posts
a task (BitSota's shape: no kind, an onboard_md), a miner lists, onboards,
claims, cancels, claims again and submits by claim_id alone, a validator
scans, replays (pretends to) and posts a result, and both sides read
detail, verifications (unsigned too, as BitSota's validator reconciles) and
the peer routes. Then the direct verify route without a scan, planner work
items (posted, claimed, completed by the submission on their claim) and, on
a centerless task, idea rewards for the proposer and the implementer. It
prints one JSON summary line and exits 0, or names the failed step and
exits 1.
"""
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sr25519  # noqa: E402

BASE = os.environ["BT_BASE"].rstrip("/")
KEYS = {role: sr25519.Keypair("bitsota-" + role) for role in ("owner", "miner", "miner2", "validator")}
ONBOARD = "# Read me first\n\nEdit model/*.py only; the benchmark prints loss=<x>.\n"
TASK = json.loads(os.environ["BT_TASK_JSON"])
PATCH = os.environ["BT_PATCH"]


class ApiError(RuntimeError):
    def __init__(self, status, payload):
        super().__init__(f"HTTP {status} ({payload})")
        self.status = status
        self.payload = payload


def canonical(body):
    if body is None:
        return b""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


def auth_message(method, path, query, ts, body):
    return "\n".join(["BT-AUTH-V1", method.upper(), path, query or "", str(ts),
                      hashlib.sha256(canonical(body)).hexdigest()])


def sign_headers(role, method, path, query, body):
    ts = str(int(time.time()))
    key = KEYS[role]
    sig = key.sign(auth_message(method, path, query, ts, body).encode("utf-8")).hex()
    return {"X-Hotkey": key.ss58_address, "X-Timestamp": ts, "X-Signature": sig}


def request(method, path, *, body=None, params=None, role=None, raw=False):
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
    url = urllib.parse.urljoin(BASE + "/", path.lstrip("/"))
    if query:
        url += "?" + query
    headers = {}
    data = None
    if role:
        headers.update(sign_headers(role, method, path, query, body))
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode("utf-8")  # requests' json=: spaces, insertion order
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return text if raw else (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        raise ApiError(e.code, payload) from None


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    step = "start"
    try:
        step = "owner posts a task with BitSota's fields"
        expect("kind" not in TASK, "BitSota's CreateTaskRequest has no kind")
        task = request("POST", "/api/v1/tasks", body=dict(TASK, onboard_md=ONBOARD, is_active=True), role="owner")
        expect(task["slug"] == TASK["slug"] and task["is_active"] is True and task["kind"] == "metric", f"created task {task}")
        expect(task["onboard_md"] == ONBOARD, f"onboard_md not stored: {task}")
        expect("validator_benchmark_env" not in request("GET", f"/api/v1/tasks/{task['id']}"), "public task leaks the validator env")

        step = "miner lists tasks (a bare array)"
        tasks = request("GET", "/api/v1/tasks")
        expect(isinstance(tasks, list), f"tasks is {type(tasks)}")
        mine = [t for t in tasks if str(t.get("slug", "")).lower() == TASK["slug"]]
        expect(mine and mine[0]["onboard_path"].endswith("/onboard.md") and mine[0]["onboard_md"] == ONBOARD, f"task rows {tasks}")
        expect(all("validator_benchmark_env" not in t for t in tasks), "validator env leaked in the list")
        task_id = mine[0]["id"]

        step = "miner onboards"
        md = request("GET", f"/api/v1/tasks/{task_id}/onboard.md", raw=True)
        expect(md.startswith(ONBOARD) and TASK["title"] in md, f"onboarding: the poster's text first, then the task's: {md[:200]}")
        expect(request("GET", "/api/v1/work-items", params={"task_id": task_id, "status": "open"}) == [], "work items")

        step = "miner claims and cancels"
        c1 = request("POST", f"/api/v1/tasks/{task_id}/claim", body={"claim_description": "try a café-grade warmup \u2014 \U0001F680"}, role="miner")
        expect(c1["status"] == "active" and c1["task_id"] == task_id, f"claim {c1}")
        c1 = request("POST", f"/api/v1/claims/{c1['id']}/cancel", role="miner")
        expect(c1["status"] == "cancelled", f"cancelled claim {c1}")

        step = "miner claims again and lists claims"
        c2 = request("POST", f"/api/v1/tasks/{task_id}/claim", body={"claim_description": "lower the loss"}, role="miner")
        claims = request("GET", "/api/v1/claims", params={"task_id": task_id, "status": None})
        expect(isinstance(claims, list) and {c["id"] for c in claims} >= {c1["id"], c2["id"]}, f"claims {claims}")

        step = "miner submits by claim_id alone"
        sub = request("POST", "/api/v1/submissions", role="miner", body={
            "claim_id": c2["id"], "base_ref": TASK["base_ref"], "patch": PATCH, "summary": "smaller lr",
            "claimed_metrics": {"loss": 1.5, "tiny": 1e-05}, "proposed_idea": "warmup",
            # BitSota's agent miner names its local run directory here, with no digest or size
            "artifact_uri": "/home/miner/.bitsota_agent_workspace/runs/bench-attempt-1-x", "execution_log": "loss=1.5"})
        expect(sub["status"] == "pending_verification" and sub["task_id"] == task_id and sub["claim_id"] == c2["id"], f"submission {sub}")
        expect("artifact_uri" not in sub, f"a local run directory became an artifact: {sub}")
        subs = request("GET", "/api/v1/submissions", params={"task_id": task_id})
        expect(isinstance(subs, list) and subs[0]["id"] == sub["id"] and not subs[0].get("patch"), f"public submissions {subs}")
        detail = request("GET", f"/api/v1/submissions/{sub['id']}/detail", role="miner")
        expect(detail["submission"]["id"] == sub["id"] and detail["verifications"] == [] and detail["metric_name"] == "loss", f"detail {detail}")
        expect(request("GET", "/api/v1/verifications", params={"submission_id": sub["id"]}) == [], "the public reads results of a pending submission")

        step = "validator scans (no body)"
        scan = request("POST", "/api/v1/validator/submissions/scan", role="validator")
        jobs = [j for j in scan["jobs"] if (j.get("submission") or {}).get("id") == sub["id"]]
        expect(jobs, f"scan {scan}")
        job = jobs[0]
        expect(job["job_id"] and job["task_id"] == task_id and job["status"] == "leased", f"job fields at the top level: {job}")
        spec = job["replay_spec"]
        expect(spec["benchmark_command"] == TASK["benchmark_command"] and spec["base_ref"] == TASK["base_ref"], f"replay spec {spec}")
        expect(job["task"]["validator_benchmark_env"] == TASK["validator_benchmark_env"], "validators get the private env")

        step = "validator posts the result, twice (idempotent)"
        result = {"submission_id": sub["id"], "status": "accepted", "observed_metrics": {"loss": 1.25},
                  "notes": "replayed", "replay_log": "loss=1.25\n"}
        v = request("POST", f"/api/v1/validator/jobs/{job['job_id']}/result", body=result, role="validator")
        expect(v["id"] == job["job_id"] and v["status"] == "accepted", f"verification {v}")
        again = request("POST", f"/api/v1/validator/jobs/{job['job_id']}/result", body=result, role="validator")
        expect(again["id"] == v["id"], f"retry {again}")

        step = "validator reconciles through verifications"
        rows = request("GET", "/api/v1/verifications", params={"submission_id": sub["id"]}, role="validator")
        expect(isinstance(rows, list) and [r["id"] for r in rows] == [job["job_id"]], f"verifications {rows}")
        expect(rows[0]["observed_metrics"] == {"loss": 1.25} and rows[0]["notes"] == "replayed", f"validator's view {rows}")
        step = "the public reads a decided submission's results, redacted (the unsigned reconcile)"
        public = request("GET", "/api/v1/verifications", params={"submission_id": sub["id"]})
        expect([(r["id"], r["status"]) for r in public] == [(job["job_id"], "accepted")], f"public verifications {public}")
        expect(all("observed_metrics" not in r and "notes" not in r and "log_excerpt" not in r for r in public), f"public sees too much: {public}")

        step = "both sides read the outcome"
        final = request("GET", f"/api/v1/submissions/{sub['id']}")
        expect(final["status"] == "accepted", f"final {final}")
        detail = request("GET", f"/api/v1/submissions/{sub['id']}/detail", role="miner")
        expect([r["id"] for r in detail["verifications"]] == [job["job_id"]], f"detail {detail}")
        peers = request("GET", "/api/v1/peer-evaluations", params={"submission_id": sub["id"]}, role="miner")
        expect(peers == [], f"peer evaluations {peers}")
        consensus = request("GET", f"/api/v1/submissions/{sub['id']}/peer-consensus")
        expect(consensus["committee_count"] == 0 and consensus["accepted_count"] == 1, f"consensus {consensus}")

        step = "validator verifies directly, without a scan (the route leases the job)"
        c3 = request("POST", f"/api/v1/tasks/{task_id}/claim", body={"claim_description": "again"}, role="miner")
        sub3 = request("POST", "/api/v1/submissions", role="miner", body={
            "claim_id": c3["id"], "base_ref": TASK["base_ref"], "patch": PATCH, "summary": "again", "claimed_metrics": {"loss": 1.4}})
        verify = {"status": "accepted", "observed_metrics": {"loss": 1.3}, "notes": "direct"}
        v3 = request("POST", f"/api/v1/submissions/{sub3['id']}/verify", body=verify, role="validator")
        expect(v3["status"] == "accepted" and v3["id"] and v3["id"] == v3.get("job_id"), f"verify {v3}")
        again = request("POST", f"/api/v1/submissions/{sub3['id']}/verify", body=verify, role="validator")
        expect(again["id"] == v3["id"], f"verify retry {again}")

        step = "owner plans a work item; a miner claims it and completes it"
        wi = request("POST", "/api/v1/work-items", role="owner", body={
            "task_id": task_id, "title": "Try a smaller lr", "instructions": "Set lr to 0.05 in model/net.py", "priority": 7})
        expect(wi["status"] == "open" and wi["priority"] == 7, f"work item {wi}")
        opened = request("GET", "/api/v1/work-items", params={"task_id": task_id, "status": "open"})
        expect([w["id"] for w in opened] == [wi["id"]], f"open work items {opened}")
        wc = request("POST", f"/api/v1/work-items/{wi['id']}/claim", body={"claim_description": "on it"}, role="miner")
        expect(wc["work_item_id"] == wi["id"] and wc["status"] == "active" and wc["task_id"] == task_id, f"work item claim {wc}")
        claimed = request("GET", "/api/v1/work-items", params={"task_id": task_id, "status": "claimed"})
        expect([(w["id"], w["claim_id"], w["miner_hotkey"]) for w in claimed] == [(wi["id"], wc["id"], KEYS["miner"].ss58_address)], f"claimed {claimed}")
        try:
            request("POST", f"/api/v1/work-items/{wi['id']}/claim", body={}, role="miner2")
            raise AssertionError("a claimed work item was claimed again")
        except ApiError as e:
            expect(e.status == 409, f"second claim: {e}")
        wsub = request("POST", "/api/v1/submissions", role="miner", body={
            "claim_id": wc["id"], "base_ref": TASK["base_ref"], "patch": PATCH, "summary": "work item", "claimed_metrics": {"loss": 1.2}})
        done = request("GET", "/api/v1/work-items", params={"task_id": task_id, "status": "completed"})
        expect([w["id"] for w in done] == [wi["id"]], f"completed {done}")
        request("POST", f"/api/v1/submissions/{wsub['id']}/verify", body=verify, role="validator")

        step = "centerless: the implementer of another miner's idea credits both"
        ct = request("POST", "/api/v1/tasks", body=dict(TASK, slug=TASK["slug"] + "-ideas", competition_mode="centerless"), role="owner")
        ca = request("POST", f"/api/v1/tasks/{ct['id']}/claim", body={"claim_description": "idea"}, role="miner")
        idea = request("POST", "/api/v1/submissions", role="miner", body={
            "claim_id": ca["id"], "base_ref": TASK["base_ref"], "patch": PATCH, "summary": "idea", "claimed_metrics": {"loss": 1.4},
            "proposed_idea": "halve the learning rate"})
        cb = request("POST", f"/api/v1/tasks/{ct['id']}/claim", body={"claim_description": "implement"}, role="miner2")
        impl = request("POST", "/api/v1/submissions", role="miner2", body={
            "claim_id": cb["id"], "base_ref": TASK["base_ref"], "patch": PATCH, "summary": "implemented", "claimed_metrics": {"loss": 1.3},
            "proposed_idea": "and warm up", "implemented_submission_id": idea["id"]})
        expect(request("GET", "/api/v1/idea-rewards", params={"task_id": ct["id"]}) == [], "rewards before any acceptance")
        for _ in range(2):  # a scan leases one job unless it asks for more
            for j in request("POST", "/api/v1/validator/submissions/scan", body={"task_id": ct["id"]}, role="validator")["jobs"]:
                request("POST", f"/api/v1/validator/jobs/{j['job_id']}/result", role="validator", body={
                    "submission_id": j["submission"]["id"], "status": "accepted", "observed_metrics": {"loss": 1.3}})
        rewards = request("GET", "/api/v1/idea-rewards", params={"task_id": ct["id"]})
        got = sorted((r["role"], r["miner_hotkey"], r["submission_id"], r["idea_submission_id"], r["share"]) for r in rewards)
        want = sorted([("proposer", KEYS["miner"].ss58_address, impl["id"], idea["id"], 0.5),
                       ("implementer", KEYS["miner2"].ss58_address, impl["id"], idea["id"], 0.5)])
        expect(got == want, f"idea rewards {rewards}")
        d = request("GET", f"/api/v1/submissions/{idea['id']}/detail")
        expect(sorted(r["role"] for r in d["idea_rewards"]) == ["implementer", "proposer"], f"detail idea_rewards {d['idea_rewards']}")
        mine = request("GET", "/api/v1/idea-rewards", params={"miner_hotkey": KEYS["miner2"].ss58_address})
        expect([r["role"] for r in mine] == ["implementer"], f"by miner {mine}")

        step = "validator claims a job when none is left"
        try:
            request("POST", "/api/v1/validator/jobs/claim", role="validator")
            raise AssertionError("claimed a job from an empty queue")
        except ApiError as e:
            expect(e.status == 404 and "no pending validator jobs" in str(e), f"empty claim: {e}")

        step = "errors carry detail"
        try:
            request("POST", "/api/v1/tasks/no-such-task/claim", body={"claim_description": "x"}, role="miner")
            raise AssertionError("claimed a missing task")
        except ApiError as e:
            expect(e.status == 404 and isinstance(e.payload, dict) and e.payload.get("detail"), f"error {e}")
    except Exception as e:  # noqa: BLE001 - report the step
        print(json.dumps({"ok": False, "step": step, "error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps({"ok": True, "task_id": task_id, "submission_id": sub["id"], "job_id": job["job_id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
