//go:build linux

package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox init is the process a pooled container starts with: this
// binary, re-executed inside the container by runc through a descriptor
// (so nothing of the host is mounted for it), with initEnv set. It waits on
// its control socket for the run's command and replaces itself with it, so
// the command ends up as the container's pid 1 under everything runc set up,
// exactly as if runc had started it.
//
// NOTE: the descriptor numbers are fixed by the ExtraFiles order in
// pool_linux.go (runc's --preserve-fds passes them on as 3, 4...).
const (
	initEnv  = "_AGORA_SANDBOX_INIT"
	initCtl  = 3 // control socket, see initReady
	initExe  = 4 // this binary, read-only; runc executes it as /proc/self/fd/4
	initPath = "/proc/self/fd/4"

	// What the init sends on its control socket: initReady when it waits
	// for a request, then initExecing right before execve, and after
	// either, if the command could not start, why not.
	initReady   = 'R'
	initExecing = 'X'
)

// initRequest is what a run sends the sandbox init.
type initRequest struct {
	Args []string
	Env  []string
	Dir  string
	// UID and GID the command runs as; never 0.
	UID, GID uint32
}

// initCaps are the pooled container's capabilities, the init's only: to
// become the run's ids (SETUID, SETGID) and to empty the bounding set
// (SETPCAP) before it does.
var initCaps = []string{"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}

func init() {
	if os.Getenv(initEnv) == "" {
		return
	}
	// Never returns: the process becomes the run's command or exits.
	runInit()
}

func runInit() {
	ctl := os.NewFile(initCtl, "control")
	unix.CloseOnExec(initCtl)
	unix.Close(initExe)
	if _, err := ctl.Write([]byte{initReady}); err != nil {
		os.Exit(2)
	}
	var req initRequest
	if err := json.NewDecoder(ctl).Decode(&req); err != nil {
		// The pool closed the socket: the container is no longer wanted.
		os.Exit(0)
	}
	err := dropPrivileges(req.UID, req.GID)
	if err == nil {
		err = execRequest(ctl, &req)
	}
	// Still here: the command could not start. The host runs it cold, and
	// runc reports the failure in its own words.
	fmt.Fprintf(ctl, "%v", err)
	os.Exit(127)
}

// execRequest starts the command the way runc's own init does (libcontainer
// standard_init_linux.go, runc 1.1): the environment rebuilt from the spec's
// list alone with the same setenv semantics, HOME from the user's passwd
// entry or "/" when the list has none, chdir, a PATH lookup against that
// environment, execve.
func execRequest(ctl *os.File, req *initRequest) error {
	if len(req.Args) == 0 {
		return fmt.Errorf("no command")
	}
	os.Clearenv()
	for _, kv := range req.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("invalid environment variable %q", kv)
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	if os.Getenv("HOME") == "" {
		os.Setenv("HOME", passwdHome(os.Getuid()))
	}
	if err := unix.Chdir(req.Dir); err != nil {
		return fmt.Errorf("chdir to %q: %w", req.Dir, err)
	}
	path, err := exec.LookPath(req.Args[0])
	if err != nil {
		return err
	}
	if _, err := ctl.Write([]byte{initExecing}); err != nil {
		return err
	}
	return syscall.Exec(path, req.Args, os.Environ())
}

// dropPrivileges makes the init what runc makes a cold run's process: the
// run's uid and gid, with that gid as its only supplementary group, and no
// capability in any set. Everything after it (chdir, the PATH lookup, the
// command) happens as the run's user.
func dropPrivileges(uid, gid uint32) error {
	if uid == 0 || gid == 0 {
		return fmt.Errorf("refusing to run as root")
	}
	// The bounding set is per thread: this thread empties it, and execs.
	runtime.LockOSThread()
	for c := 0; ; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) && c > 0 {
				break // past the last capability
			}
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	// Go applies these to every thread. Leaving uid 0 for good clears the
	// permitted and effective sets.
	if err := syscall.Setgroups([]int{int(gid)}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for _, d := range data {
		if d.Effective|d.Permitted|d.Inheritable != 0 {
			return fmt.Errorf("capabilities left after dropping them: %+v", data)
		}
	}
	return nil
}

// passwdHome is the home directory /etc/passwd gives uid, or "/" as runc
// defaults it.
func passwdHome(uid int) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 6 {
			continue
		}
		if id, err := strconv.Atoi(fields[2]); err == nil && id == uid {
			return fields[5]
		}
	}
	return "/"
}
