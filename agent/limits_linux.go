package agent

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the parser in its own process group (so a kill reaches
// anything it might spawn) and kills it if this process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	return syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// setLimits caps the child's address space and CPU time, soft and hard,
// so the child cannot raise them again.
func setLimits(pid int, asBytes, cpuSeconds uint64) error {
	if err := unix.Prlimit(pid, unix.RLIMIT_AS, &unix.Rlimit{Cur: asBytes, Max: asBytes}, nil); err != nil {
		return err
	}
	// The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL
	// in case SIGXCPU is ignored.
	return unix.Prlimit(pid, unix.RLIMIT_CPU, &unix.Rlimit{Cur: cpuSeconds, Max: cpuSeconds + 1}, nil)
}
