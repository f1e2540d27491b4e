package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls fail with EPERM inside the sandbox. The list follows what
// Docker's default profile leaves out: kernel and module administration,
// clocks, keyrings, mounts and namespaces, tracing other processes, BPF and
// perf, and io_uring, whose history of kernel bugs makes it a poor thing to
// expose to hostile code. The sandbox process has no capabilities, so many of
// these would fail anyway; seccomp closes them even against a kernel bug in a
// capability check.
var deniedSyscalls = []string{
	"_sysctl", "acct", "add_key", "bpf", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "fanotify_init", "finit_module",
	"fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms",
	"get_mempolicy", "init_module", "io_uring_enter", "io_uring_register",
	"io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at",
	"nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
	"pivot_root", "process_vm_readv", "process_vm_writev", "ptrace",
	"query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
	"set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon",
	"sysfs", "syslog", "umount", "umount2", "unshare", "uselib",
	"userfaultfd", "ustat", "vm86", "vm86old",
}

// cloneNamespaceFlags are clone(2)'s namespace flags (NEWNS, NEWCGROUP,
// NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME). A process may fork and
// spawn threads but not create namespaces: user namespaces in particular
// widen the kernel surface a great deal.
var cloneNamespaceFlags = []uint64{0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080}

func seccompProfile() *specs.LinuxSeccomp {
	rules := []specs.LinuxSyscall{
		{Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: errnoRet(1)}, // EPERM
		// clone3 passes its flags in memory that seccomp cannot read;
		// ENOSYS makes libc fall back to clone, which is filtered below.
		{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: errnoRet(38)},
	}
	rules = append(rules, socketFamilyRules()...)
	// Rules are ORed and a rule's conditions ANDed, so "any namespace flag
	// set" takes one rule per flag: (flags & f) == f.
	for _, f := range cloneNamespaceFlags {
		rules = append(rules, specs.LinuxSyscall{
			Names:    []string{"clone"},
			Action:   specs.ActErrno,
			ErrnoRet: errnoRet(1),
			Args:     []specs.LinuxSeccompArg{{Index: 0, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}},
		})
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      rules,
	}
}

func errnoRet(n uint) *uint { return &n }

// allowedSocketFamilies are the address families socket(2) and
// socketpair(2) may create: AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK,
// what test suites, package managers and agents use. Every other family
// (vsock, which reaches the host VM's hypervisor sockets; packet; alg,
// bluetooth, and the rarely used families whose socket() loads a kernel
// module) fails with EPERM.
var allowedSocketFamilies = []uint64{1, 2, 10, 16}

// socketFamilyRules deny socket(2) and socketpair(2) for every family but
// allowedSocketFamilies. A rule's conditions may not compare the same
// argument twice, so the denied set is written as a union of single
// comparisons: equal to a value, a masked-equal block of 2^k values, or at
// least the first value above the allowed ones. The family is an int: the
// kernel ignores the argument's upper 32 bits, and any value with one of
// them set is at least that first value and denied.
//
// x86's socketcall(2) passes the family in memory that seccomp cannot
// read: it gets ENOSYS, as on x86-64, which has no such call, and libc
// uses socket(2) itself.
func socketFamilyRules() []specs.LinuxSyscall {
	denied := deniedFamilyRanges(allowedSocketFamilies)
	rules := []specs.LinuxSyscall{{Names: []string{"socketcall"}, Action: specs.ActErrno, ErrnoRet: errnoRet(38)}}
	for _, name := range []string{"socket", "socketpair"} {
		for _, arg := range denied {
			rules = append(rules, specs.LinuxSyscall{
				Names: []string{name}, Action: specs.ActErrno, ErrnoRet: errnoRet(1),
				Args: []specs.LinuxSeccompArg{arg},
			})
		}
	}
	return rules
}

// deniedFamilyRanges returns single-argument conditions on argument 0 that
// together match every value not in allowed (sorted ascending): aligned
// power-of-two blocks between the allowed values, and ">= max+1" above.
// The masks are 32 bits wide, so they fit the 32-bit ABIs' arguments; on
// x86-64 a value with upper bits set is caught by the last condition.
func deniedFamilyRanges(allowed []uint64) []specs.LinuxSeccompArg {
	var args []specs.LinuxSeccompArg
	lo := uint64(0)
	emit := func(from, to uint64) { // [from, to)
		for from < to {
			// The largest aligned block that starts at from and fits.
			size := uint64(1)
			for from%(size*2) == 0 && from+size*2 <= to {
				size *= 2
			}
			if size == 1 {
				args = append(args, specs.LinuxSeccompArg{Index: 0, Value: from, Op: specs.OpEqualTo})
			} else {
				args = append(args, specs.LinuxSeccompArg{Index: 0, Value: 0xffffffff &^ (size - 1), ValueTwo: from, Op: specs.OpMaskedEqual})
			}
			from += size
		}
	}
	for _, a := range allowed {
		emit(lo, a)
		lo = a + 1
	}
	args = append(args, specs.LinuxSeccompArg{Index: 0, Value: lo, Op: specs.OpGreaterEqual})
	return args
}
