package sandbox

import (
	"fmt"
	"path"
	"strings"

	"github.com/agoranet/agora"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Defaults for the sandbox user. The ids are unlikely to exist on the host, so
// files the sandbox creates on the host belong to nobody who can log in.
const (
	DefaultUID = 10001
	DefaultGID = 10001
)

// specInput is everything buildSpec needs; it keeps spec building a pure
// function that tests can check without a runtime.
type specInput struct {
	Run      *agora.RunSpec
	Limits   agora.Limits
	Rootfs   string   // directory used as the (read-only) root
	HostDirs []string // host directories bound read-only at the same path
	UID, GID uint32
	// Caps are the capabilities the process starts with (bounding,
	// effective and permitted), none for a run; only the pool's init,
	// which drops them before it execs a run's command, has any.
	Caps        []string
	CgroupsPath string
	Swap        bool // the memory controller accounts swap (memsw)
	Hostname    string
}

// buildSpec turns a run into an OCI runtime spec: every isolation property of
// the sandbox is decided here, in one place.
func buildSpec(in specInput) (*specs.Spec, error) {
	r := in.Run
	if len(r.Args) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "sandbox: run %q has no command", r.Name)
	}
	dir := r.Dir
	if dir == "" {
		dir = "/"
	}
	if !path.IsAbs(dir) {
		return nil, agora.Errorf(agora.EINVALID, "sandbox: working directory %q is not absolute", dir)
	}
	for _, e := range r.Env {
		if !strings.Contains(e, "=") {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: environment entry %q has no '='", e)
		}
	}
	if err := checkServices(r.Services); err != nil {
		return nil, err
	}
	l := in.Limits

	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%d", l.Tmp)}},
	}
	for _, d := range in.HostDirs {
		mounts = append(mounts, specs.Mount{Destination: d, Type: "bind", Source: d, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	seen := map[string]bool{}
	for _, m := range r.Mounts {
		if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target || m.Target == "/" {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: mount target %q must be a clean absolute path other than /", m.Target)
		}
		if !path.IsAbs(m.Source) {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: mount source %q is not absolute", m.Source)
		}
		if seen[m.Target] {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: two mounts at %q", m.Target)
		}
		seen[m.Target] = true
		opts := []string{"rbind", "nosuid", "nodev"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
	}

	c := cgroupValues(l, in.Swap)
	noNewPrivs := true

	s := &specs.Spec{
		Version:  "1.0.2",
		Hostname: in.Hostname,
		Root:     &specs.Root{Path: in.Rootfs, Readonly: true},
		Process: &specs.Process{
			Args: r.Args,
			Env:  r.Env,
			Cwd:  dir,
			User: specs.User{UID: in.UID, GID: in.GID, AdditionalGids: []uint32{in.GID}},
			// No capabilities in any set: the process is an ordinary user.
			Capabilities:    &specs.LinuxCapabilities{Bounding: in.Caps, Effective: in.Caps, Permitted: in.Caps},
			NoNewPrivileges: noNewPrivs,
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096},
				{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
			},
		},
		Mounts: mounts,
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace}, // a new one: loopback only
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			Resources: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: &c.memory, Swap: c.swap},
				Pids:   &specs.LinuxPids{Limit: c.pids},
				CPU:    &specs.LinuxCPU{Quota: &c.quota, Period: &c.period, Shares: &c.shares},
				// Only the devices runc creates by default (null, zero,
				// full, random, urandom, tty, ptmx) are usable.
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Seccomp: seccompProfile(),
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
				"/proc/scsi", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
	return s, nil
}

// checkServices checks a run's services before any of them is opened.
func checkServices(svcs []agora.Service) error {
	ports := map[int]int{}
	for i, s := range svcs {
		if s.Port < 1 || s.Port > 65535 {
			return agora.Errorf(agora.EINVALID, "sandbox: services[%d].port: %d out of range (1-65535)", i, s.Port)
		}
		if j, dup := ports[s.Port]; dup {
			return agora.Errorf(agora.EINVALID, "sandbox: services[%d].port: %d already used by services[%d]", i, s.Port, j)
		}
		ports[s.Port] = i
		if s.Serve == nil {
			return agora.Errorf(agora.EINVALID, "sandbox: services[%d].serve: nil", i)
		}
	}
	return nil
}

// joinNetwork makes the run join the network namespace at path instead of
// getting a new one. Nothing else of the spec changes: the run is as
// isolated as any, only its loopback has the services on it.
func joinNetwork(s *specs.Spec, path string) {
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = path
		}
	}
}

// cgroupLimits are the cgroup settings of a run's limits.
type cgroupLimits struct {
	memory int64
	swap   *int64 // memory+swap, nil when swap is not accounted
	pids   int64
	period uint64
	quota  int64
	shares uint64
}

// cgroupValues turns limits into cgroup settings. NOTE: runc writes these at
// create time for a cold run, setLimits (pool_linux.go) writes them into a
// pooled container: both take them from here.
func cgroupValues(l agora.Limits, swap bool) cgroupLimits {
	c := cgroupLimits{memory: l.Memory, pids: l.Pids, period: 100000}
	if swap {
		// memory+swap equal to memory: the tree cannot page out to escape
		// the limit.
		sw := l.Memory
		c.swap = &sw
	}
	c.quota = int64(l.CPUs * float64(c.period))
	// CPU shares in proportion to the cores granted, so programs that size
	// their worker pools from cpu.shares (pylint does) see the grant.
	c.shares = uint64(1024 * l.CPUs)
	if c.shares < 2 {
		c.shares = 2
	}
	return c
}
