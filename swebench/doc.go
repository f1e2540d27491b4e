// Package swebench reads and writes the SWE-bench evaluation harness's file
// formats (v5 semantics), field for field: task instances, predictions,
// per-instance report.json and the final run report.
//
// Input files are untrusted. The loaders accept the three forms SWE-bench
// and its ecosystem produce (a JSON list, a JSON object keyed by instance
// id, JSONL), chosen by content rather than by extension; files of
// instances may also be Parquet, as the datasets ship on Hugging Face, read
// from a path or from the local Hugging Face cache (LoadDataset). A
// malformed record is reported as an ItemError and skipped, and the rest of
// the file loads: one bad line in a submission of hundreds should cost that
// line, not the run. Errors for the file as a whole (missing, unreadable,
// not JSON) are returned separately, with no records. Every error is an
// *agora.Error (or wraps one) so that callers can branch on its code.
//
// Ids end up in file paths and container names, so the loaders refuse ids,
// model names and run ids that could not name a file safely; every real
// SWE-bench id passes.
//
// Reports are written byte for byte as SWE-bench's Python writes them
// (json.dumps with indent=4 and ASCII escaping), so that tools reading
// SWE-bench's output, including diff-based comparisons, read ours.
//
// LookupSpec carries the evaluation facts of SWE-bench's per-(repository,
// version) spec table for its Python repositories (test command, eval
// commands, install command, log parser), and ImageEvalScript writes the
// eval script of an instance for SWE-bench's instance images exactly as the
// eval_script column of the v5 datasets holds it.
package swebench
