// Package forge supplies fresh tasks: it mines a repository's history for
// SWE-bench-style tasks (Mine), or synthesizes bug tasks by mutating
// functions that passing tests cover, SWE-smith style (Synth), and keeps
// every candidate only when execution proves it (Validator): its tests
// fail before the fix and pass after, three times over, with flaky tests
// dropped. What it writes is SWE-bench instance JSONL that `agora eval`
// grades as it is, each row carrying its provenance and difficulty
// features under "forge".
package forge
