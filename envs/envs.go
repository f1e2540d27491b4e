// Package envs ships Agora's default environment specs, embedded in the
// binary so `agora eval` works without a spec file.
package envs

import _ "embed"

// SWEbench is the spec file for the SWE-bench instances verified offline on
// Debian bookworm packages (requests, flask, sympy, pytest, pylint).
//
//go:embed swebench.yaml
var SWEbench []byte
