// Package sandbox runs untrusted commands under an OCI runtime: runc by
// default, gVisor's runsc through the same code. It implements
// agora.Sandbox. Each run gets a bundle built from the OCI runtime-spec Go
// types, its own namespaces and cgroup, and is removed before Run returns; a
// sweep at start removes what a crashed process left behind. With runc, runs
// take containers that a pool started ahead of demand when one is ready, and
// start their own otherwise; either way they are isolated the same.
package sandbox

import (
	"log/slog"

	"github.com/agoranet/agora"
)

// Runtime names.
const (
	RuntimeRunc  = "runc"
	RuntimeRunsc = "runsc"
)

// DefaultStateDir holds bundles, workspaces, the shared root skeleton and the
// OCI runtime's own state. It must be on a local filesystem.
const DefaultStateDir = "/run/agora"

// Config configures a Runtime. Zero fields take defaults.
type Config struct {
	// Runtime is RuntimeRunc (default) or RuntimeRunsc.
	Runtime string
	// Binary is the runtime executable (default: Runtime, found on PATH).
	Binary string
	// StateDir is where the sandbox keeps its state (default DefaultStateDir).
	StateDir string
	// UID and GID the sandboxed process runs as (default DefaultUID/GID).
	UID, GID uint32
	// HostDirs are host directories bound read-only at the same path into
	// the default root (default: /usr, /etc and the /bin, /lib… entries that
	// are real directories on this host; symlinks are copied as symlinks).
	HostDirs []string
	// Logger receives one structured line per run (default slog.Default()).
	Logger *slog.Logger
	// PoolSize is how many containers runc keeps started ahead of demand
	// for each pool shape, so that runs skip starting runc (default 0: no
	// pool; 2 serves one run at a time with room to spare). A run that
	// finds none ready runs cold, exactly as without a pool. runsc has no
	// pool. A Runtime with a pool must be closed: its containers, and their
	// root mounts under StateDir, stay until Close, or until the process
	// exits and a later New on the same StateDir sweeps them.
	PoolSize int
}

// DefaultPoolSize is the pool commands ask for: enough for one run at a
// time with one container to spare.
const DefaultPoolSize = 2

var _ agora.Sandbox = (*Runtime)(nil)
