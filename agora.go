// Package agora holds Agora's domain types and the interfaces its parts
// implement: an open marketplace engine for autonomous software-engineering
// work. Subpackages are named for the technology they wrap (sandbox for OCI
// runtimes, repocache for git, harness for SWE-bench evaluation); only
// cmd/agora wires them together. This package imports the standard library only.
package agora

// Version and Commit are set at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
)
