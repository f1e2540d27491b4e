// Package sandbox runs untrusted commands under an OCI runtime: runc by
// default, gVisor's runsc through the same code. It implements
// agora.Sandbox. Each run gets a bundle built from the OCI runtime-spec Go
// types, its own namespaces and cgroup, and is removed before Run returns; a
// sweep at start removes what a crashed process left behind. With runc, runs
// take containers that a pool started ahead of demand when one is ready, and
// start their own otherwise; either way they are isolated the same.
package sandbox

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

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
	// UID and GID own, on disk, what runs write into workspaces and what
	// checkouts hand them (default DefaultUID/GID). Runs do not run as
	// them: each workspace maps them to its own ids (IDs).
	UID, GID uint32
	// IDs are the host uids (and gids of the same numbers) runs run as:
	// each workspace, and each run outside one, holds one of its own until
	// it is closed or done, so concurrent runs never share per-user kernel
	// limits (inotify instances, pipe buffers…) or the right to signal and
	// trace each other. Zero means DefaultIDRange(). It must not contain 0,
	// UID or GID.
	IDs IDRange
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

// IDRange is a range of host ids: First, First+1, … First+Count-1.
type IDRange struct {
	First, Count uint32
}

// DefaultIDRange returns the range runs take their uids and gids from
// unless configured otherwise: 65536 ids at 0x70000000, above the ranges
// that /etc/subuid and systemd hand out to users and containers, and below
// 2^31 so that no tool mistakes them for negative numbers.
func DefaultIDRange() IDRange { return IDRange{First: 1879048192, Count: 65536} }

// ParseIDRange parses "first-last" (inclusive), as in --uid-range
// 100000-165535.
func ParseIDRange(s string) (IDRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	first, err1 := strconv.ParseUint(a, 10, 32)
	last, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil || last < first {
		return IDRange{}, agora.Errorf(agora.EINVALID, "sandbox: id range %q: want first-last, e.g. 100000-165535", s)
	}
	r := IDRange{First: uint32(first), Count: uint32(last - first + 1)}
	return r, r.Validate()
}

// Validate checks that the range holds ids a run may use: not root, not
// the kernel's "no id" (4294967295), not the overflow id nobody (65534).
func (r IDRange) Validate() error {
	last := uint64(r.First) + uint64(r.Count) - 1
	switch {
	case r.Count == 0:
		return agora.Errorf(agora.EINVALID, "sandbox: id range is empty")
	case r.First == 0:
		return agora.Errorf(agora.EINVALID, "sandbox: id range %s contains root", r)
	case last >= 1<<32-1:
		return agora.Errorf(agora.EINVALID, "sandbox: id range %s reaches 4294967295, which means no id", r)
	case r.Contains(65534):
		return agora.Errorf(agora.EINVALID, "sandbox: id range %s contains nobody (65534)", r)
	}
	return nil
}

// Contains reports whether id is in the range.
func (r IDRange) Contains(id uint32) bool {
	return id >= r.First && uint64(id) < uint64(r.First)+uint64(r.Count)
}

// String formats the range as ParseIDRange reads it.
func (r IDRange) String() string {
	return fmt.Sprintf("%d-%d", r.First, uint64(r.First)+uint64(r.Count)-1)
}

// DefaultPoolSize is the pool commands ask for: enough for one run at a
// time with one container to spare.
const DefaultPoolSize = 2

var _ agora.Sandbox = (*Runtime)(nil)
