package agora

import (
	"context"
	"net"
	"time"
)

// Sandbox runs untrusted commands in isolation: own mount, PID, network, IPC
// and UTS namespaces, loopback-only network, a read-only root, an
// unprivileged user without capabilities, seccomp, cgroup limits and a
// wall-clock deadline. Implementations: sandbox.Runtime (runc or runsc).
type Sandbox interface {
	// NewWorkspace mounts a copy-on-write tree over read-only layers. The
	// caller binds parts of it into runs with RunSpec.Mounts and must Close it.
	// Returns EINVALID for a bad spec and EUNAVAILABLE when the host cannot
	// provide one.
	NewWorkspace(ctx context.Context, spec WorkspaceSpec) (Workspace, error)

	// Run runs spec.Args to completion or to its deadline. A non-zero exit, a
	// timeout or a kill is reported in the RunResult; an error means the run
	// could not happen at all (EINVALID for a bad spec, EUNAVAILABLE when the
	// runtime is missing or broken). Everything the run created is removed
	// before Run returns.
	Run(ctx context.Context, spec *RunSpec) (*RunResult, error)
}

// WorkspaceSpec describes a copy-on-write workspace.
type WorkspaceSpec struct {
	// Layers are read-only directories, topmost first. They are never written.
	Layers []string
	// Upper, if set, is a directory on disk that receives every change; it is
	// how an environment layer is captured. If empty, changes go to a private
	// tmpfs capped at MaxBytes and vanish on Close.
	Upper string
	// MaxBytes caps what the workspace may write (tmpfs upper only).
	MaxBytes int64
}

// Workspace is a mounted copy-on-write tree.
type Workspace interface {
	// Root is the host path of the merged tree.
	Root() string
	// Close unmounts the tree and removes everything it created, except a
	// caller-provided Upper directory.
	Close() error
}

// Mount binds a host path into a run.
type Mount struct {
	Source   string // host path
	Target   string // absolute path inside the sandbox
	ReadOnly bool
}

// RunSpec is one command to run in a sandbox.
type RunSpec struct {
	// Name labels the run in logs and container ids (sanitized).
	Name string
	// Args is the command and its arguments; Args[0] is resolved on PATH.
	Args []string
	// Env is the complete environment ("KEY=value"); nothing is inherited.
	Env []string
	// Dir is the working directory inside the sandbox (default "/").
	Dir string
	// Mounts are added on top of the read-only root.
	Mounts []Mount
	// Stdin is fed to the command; nil means an empty stdin.
	Stdin []byte
	// Limits bound what the run may use.
	Limits Limits
	// Rootfs, if set, is a root filesystem directory used read-only instead
	// of the host's system directories.
	Rootfs string
	// Services are host-side servers the run can reach, and its only way
	// out: for each one the runtime opens a TCP listener on 127.0.0.1:Port
	// inside the run's own network namespace, calls Serve with it on its own
	// goroutine, and closes the listener when the run ends. Only runc
	// supports them; other runtimes return EUNAVAILABLE.
	Services []Service
}

// Service is a host-side server reachable from inside one run.
type Service struct {
	// Port is the TCP port on the run's loopback (1-65535).
	Port int
	// Serve accepts on l until l is closed (e.g. http.Server.Serve).
	Serve func(l net.Listener)
}

// Limits bound a run. A zero field takes the default from DefaultLimits().
type Limits struct {
	Memory  int64         // bytes of memory (and swap) for the whole tree
	Pids    int64         // processes and threads
	CPUs    float64       // CPU time per wall second, in cores
	Timeout time.Duration // wall clock; the whole tree is killed at the deadline
	Output  int           // bytes of combined output kept (head and tail)
	Tmp     int64         // size of the writable /tmp tmpfs
}

// DefaultLimits returns the limits of a run that sets none. It is a
// function, not a variable, so that no package can change every run's
// limits behind the others' backs.
func DefaultLimits() Limits {
	return Limits{
		Memory:  4 << 30,
		Pids:    1024,
		CPUs:    1,
		Timeout: 30 * time.Minute,
		Output:  4 << 20,
		Tmp:     1 << 30,
	}
}

// WithDefaults returns l with every zero field replaced by its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.Memory > 0 {
		d.Memory = l.Memory
	}
	if l.Pids > 0 {
		d.Pids = l.Pids
	}
	if l.CPUs > 0 {
		d.CPUs = l.CPUs
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	if l.Output > 0 {
		d.Output = l.Output
	}
	if l.Tmp > 0 {
		d.Tmp = l.Tmp
	}
	return d
}

// RunResult is what a run did.
type RunResult struct {
	// ExitCode is the command's exit status; 128+N when killed by signal N.
	ExitCode int
	// TimedOut is true when the deadline killed the run.
	TimedOut bool
	// OOMKilled is true when the memory limit was hit.
	OOMKilled bool
	// Output is combined stdout and stderr. When more than Limits.Output
	// bytes were written, the head and the tail are kept around a marker line.
	Output []byte
	// OutputBytes is how many bytes the command wrote in all.
	OutputBytes int64
	// Truncated is true when Output lost bytes in the middle.
	Truncated bool
	// Duration is the wall time from start to exit.
	Duration time.Duration
}
