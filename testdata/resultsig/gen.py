#!/usr/bin/env python3
"""Writes vectors.json: agora-verdict-v1 signing bytes of a few results,
computed independently of the Go code (agora.Result.SigningBytes), so the
two must agree. Signatures are added by TestResultSigningVectors -update
in the hotkey package (sr25519 signatures are randomised)."""
import hashlib, json, struct

def s(x):
    b = x.encode()
    return str(len(b)).encode() + b":" + b

def encode(spec, r):
    out = b"agora-verdict-v1\n"
    out += b"spec " + spec.encode() + b"\n"
    out += b"submission " + s(r["submission_id"]) + b"\n"
    out += b"validator " + s(r["validator_hotkey"]) + b"\n"
    out += b"status " + r["status"].encode() + b"\n"
    tests = r.get("tests", {})
    out += b"tests " + str(len(tests)).encode() + b"\n"
    for k in sorted(tests, key=lambda k: k.encode()):
        out += s(k) + b" " + s(tests[k]) + b"\n"
    ms = r.get("observed_metrics", {})
    out += b"metrics " + str(len(ms)).encode() + b"\n"
    for k in sorted(ms, key=lambda k: k.encode()):
        out += s(k) + b" " + struct.pack(">d", ms[k]).hex().encode() + b"\n"
    return out

VAL = "5CRnun4ED8sh4dTdm7gNvr24PFiYVL1iTWePmMomHcuEEbGp"  # //VectorValidator
SPEC = "1ec1a2fed1bc59f2e7dda8b2804101ec512f23f199872cdccbc20b016ed7112b"
cases = [
    {"name": "swe-rejected", "spec_hash": SPEC, "result": {
        "submission_id": "01a23ca8-bc9e-7172-9891-d6e3c736eb21", "validator_hotkey": VAL, "status": "rejected",
        "tests": {"tests/test_calc.py::test_mean": "FAILED", "tests/test_calc.py::test_sum": "PASSED",
                  "tests/test_calc.py::test_param[a b]": "PASSED", "tests/test_ünï.py::test_x\nnewline": "ERROR"}}},
    {"name": "metric-accepted", "spec_hash": SPEC, "result": {
        "submission_id": "01a23ca8-bc4f-7d55-845b-547df909c286", "validator_hotkey": VAL, "status": "accepted",
        "observed_metrics": {"loss": 741.5204124999999, "acc": 0.1, "tiny": 1e-300, "neg_zero": -0.0}}},
    {"name": "error-empty", "spec_hash": SPEC, "result": {
        "submission_id": "s", "validator_hotkey": VAL, "status": "error"}},
]
for c in cases:
    b = encode(c["spec_hash"], c["result"])
    c["encoding"] = b.decode()
    c["sha256"] = hashlib.sha256(b).hexdigest()
json.dump(cases, open("vectors.json", "w"), indent=2, ensure_ascii=False)
open("vectors.json", "a").write("\n")
