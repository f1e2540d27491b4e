//go:build !linux

package sandbox

import (
	"context"

	"github.com/agoranet/agora"
)

// Runtime is unavailable off Linux: OCI runtimes, namespaces and overlayfs
// are Linux features.
type Runtime struct{}

// New returns EUNAVAILABLE off Linux.
func New(cfg Config) (*Runtime, error) {
	return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: OCI sandboxes need Linux")
}

// NewWorkspace returns EUNAVAILABLE off Linux.
func (r *Runtime) NewWorkspace(ctx context.Context, spec agora.WorkspaceSpec) (agora.Workspace, error) {
	return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: OCI sandboxes need Linux")
}

// Run returns EUNAVAILABLE off Linux.
func (r *Runtime) Run(ctx context.Context, spec *agora.RunSpec) (*agora.RunResult, error) {
	return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: OCI sandboxes need Linux")
}

// Sweep does nothing off Linux.
func (r *Runtime) Sweep() error { return nil }

// Warm does nothing off Linux.
func (r *Runtime) Warm(ctx context.Context) error { return nil }

// Close does nothing off Linux.
func (r *Runtime) Close() error { return nil }
