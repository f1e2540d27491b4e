// Package harness evaluates work in sandboxes: SWE-bench instances with v5
// semantics (patch fallback chain, test files reset and deleted, test
// command run on its own, log parsed and graded) and BitSota metric tasks.
// It takes an agora.Sandbox, so tests and other runtimes can stand in.
package harness
