//go:build linux

package sandbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
}

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
	err := execRequest(ctl, &req)
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
