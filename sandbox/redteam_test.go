package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

// The red-team tests attack the sandbox the way a hostile patch, test suite
// or agent would, and pass only when the attack fails.

// socketProbe tries socket(2) (and socketpair(2) where asked) for one
// address family and prints "<name> ok" or "<name> errno=<n>". The raw
// syscall form sets the upper 32 bits of the family, which the kernel
// ignores (the argument is an int) but a careless filter would not.
const socketProbe = `/usr/bin/python3 -c '
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def sock(name, fam, typ, pair=False):
    try:
        if pair:
            a, b = socket.socketpair(fam, typ); a.close(); b.close()
        else:
            s = socket.socket(fam, typ)
            if fam == socket.AF_VSOCK:
                s.bind((socket.VMADDR_CID_ANY, 5555))
            s.close()
        print(name, "ok")
    except OSError as e:
        print(name, "errno=%d" % e.errno)
def raw(name, fam, typ):
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(41, ctypes.c_ulong(fam), typ, 0)
    if fd >= 0:
        os.close(fd); print(name, "ok")
    else:
        print(name, "errno=%d" % ctypes.get_errno())
for name, fam, typ in [
    ("vsock", socket.AF_VSOCK, socket.SOCK_STREAM),
    ("vsock-dgram", socket.AF_VSOCK, socket.SOCK_DGRAM),
    ("packet", socket.AF_PACKET, socket.SOCK_DGRAM),
    ("alg", socket.AF_ALG, socket.SOCK_SEQPACKET),
    ("bluetooth", 31, socket.SOCK_STREAM),
    ("key", 15, 3),
    ("tipc", 30, socket.SOCK_RDM),
    ("rds", 21, socket.SOCK_SEQPACKET),
    ("can", 29, socket.SOCK_RAW),
    ("xdp", 44, socket.SOCK_RAW),
    ("unspec", 0, socket.SOCK_STREAM),
    ("ax25", 3, socket.SOCK_DGRAM),
    ("appletalk", 5, socket.SOCK_DGRAM),
    ("x25", 9, socket.SOCK_SEQPACKET),
    ("decnet", 12, socket.SOCK_STREAM),
    ("kcm", 41, socket.SOCK_DGRAM),
]:
    sock(name, fam, typ)
raw("vsock-highbits", (1 << 32) | socket.AF_VSOCK, socket.SOCK_STREAM)
raw("alg-highbits", (1 << 32) | socket.AF_ALG, socket.SOCK_SEQPACKET)
sock("pair-alg", socket.AF_ALG, socket.SOCK_SEQPACKET, pair=True)
sock("pair-vsock", socket.AF_VSOCK, socket.SOCK_STREAM, pair=True)
# Families the tests and agents need.
sock("unix", socket.AF_UNIX, socket.SOCK_STREAM)
sock("unix-dgram", socket.AF_UNIX, socket.SOCK_DGRAM)
sock("pair-unix", socket.AF_UNIX, socket.SOCK_STREAM, pair=True)
sock("inet", socket.AF_INET, socket.SOCK_STREAM)
sock("inet-udp", socket.AF_INET, socket.SOCK_DGRAM)
sock("inet6", socket.AF_INET6, socket.SOCK_STREAM)
sock("netlink", socket.AF_NETLINK, socket.SOCK_RAW)
raw("inet-raw-syscall", socket.AF_INET, socket.SOCK_STREAM)
'`

// allowedFamilies must keep working.
var allowedFamilies = []string{"unix", "unix-dgram", "pair-unix", "inet", "inet-udp", "inet6", "netlink", "inet-raw-syscall"}

func TestRedTeamSocketFamilies(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			res := mustRun(t, r, sh(socketProbe))
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(res.Output)), "\n") {
				name, outcome, _ := strings.Cut(line, " ")
				got[name] = outcome
			}
			if res.ExitCode != 0 || len(got) < 20 {
				t.Fatalf("probe exit %d: %s", res.ExitCode, res.Output)
			}
			for name, outcome := range got {
				allowed := false
				for _, a := range allowedFamilies {
					allowed = allowed || a == name
				}
				switch {
				case allowed && outcome != "ok":
					t.Errorf("%s: %s, want ok", name, outcome)
				case allowed:
				case kind == sandbox.RuntimeRunsc:
					// gVisor has no seccomp profile of ours: its own
					// kernel implements unix, inet, inet6, netlink and
					// (with CAP_NET_RAW, which runs lack) packet, and
					// nothing else reaches the host.
					if outcome == "ok" {
						t.Errorf("%s: socket created under gVisor", name)
					}
				case outcome != "errno=1":
					t.Errorf("%s: %s, want errno=1 (EPERM from seccomp)", name, outcome)
				}
			}
			t.Logf("%s", res.Output)
		})
	}
}

// holdScript runs in run A: it takes a per-user kernel resource until the
// host writes done into /agora, after writing how much it got to
// /agora/ready.
const inotifyHog = `/usr/bin/python3 -c '
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
fds = []
for i in range(1000):
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    fds.append(fd)
open("/agora/ready.tmp", "w").write("%d %d" % (len(fds), ctypes.get_errno()))
os.rename("/agora/ready.tmp", "/agora/ready")
for i in range(600):
    if os.path.exists("/agora/done"):
        break
    time.sleep(0.05)
print("held", len(fds))
'`

const inotifyUser = `/usr/bin/python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
print("inotify", "ok" if fd >= 0 else "errno=%d" % ctypes.get_errno())
'`

// shared returns a host directory every run may write into, mounted at
// /agora.
func shared(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitFile waits for a file the sandbox writes.
func waitFile(t *testing.T, path string, errc <-chan error) string {
	t.Helper()
	for i := 0; i < 600; i++ {
		if data, err := os.ReadFile(path); err == nil {
			return string(data)
		}
		select {
		case err := <-errc:
			t.Fatalf("run A ended before %s appeared: %v", filepath.Base(path), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

// runA starts a long run in the background; the test ends it by writing
// /agora/done.
func runA(t *testing.T, r *sandbox.Runtime, dir, script string) (result func() *agora.RunResult, errc chan error) {
	t.Helper()
	spec := sh(script)
	spec.Limits.Timeout = 60 * time.Second
	spec.Mounts = []agora.Mount{{Source: dir, Target: "/agora"}}
	var (
		wg  sync.WaitGroup
		res *agora.RunResult
	)
	errc = make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		res, err = r.Run(context.Background(), spec)
		if err == nil {
			err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Output)
		}
		errc <- err
	}()
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
		wg.Wait()
	})
	return func() *agora.RunResult {
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
		wg.Wait()
		return res
	}, errc
}

func TestRedTeamInotifyExhaustion(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			if err := r.Warm(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := shared(t)
			finish, errc := runA(t, r, dir, inotifyHog)
			ready := waitFile(t, filepath.Join(dir, "ready"), errc)
			var held int
			fmt.Sscan(ready, &held)
			if held < 128 {
				t.Logf("run A holds %d inotify instances (the host limit stopped it)", held)
			}
			// Run B, a competitor's test suite, at the same time.
			res, err := r.Run(context.Background(), sh(inotifyUser))
			if err != nil {
				t.Fatal(err)
			}
			a := finish()
			if got := strings.TrimSpace(string(res.Output)); got != "inotify ok" {
				t.Fatalf("run B: %q while run A holds %d instances (%s): one run starves another", got, held, strings.TrimSpace(string(a.Output)))
			}
		})
	}
}

// hostProcs returns the host pids of the processes whose command line
// contains marker, with their host uid.
func hostProcs(t *testing.T, marker string) map[int]string {
	t.Helper()
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), marker) || strings.Contains(string(cmd), "runc") {
			continue
		}
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				out[pid] = f[1]
			}
		}
	}
	return out
}

func TestRedTeamCrossRun(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			if err := r.Warm(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := shared(t)
			marker := fmt.Sprintf("victim-%d", time.Now().UnixNano())
			finish, errc := runA(t, r, dir, fmt.Sprintf(`id -u > /agora/ready.tmp; mv /agora/ready.tmp /agora/ready
while [ ! -e /agora/done ]; do sleep 0.05; done # %s`, marker))
			uidA := strings.TrimSpace(waitFile(t, filepath.Join(dir, "ready"), errc))
			victims := hostProcs(t, marker)
			if len(victims) == 0 {
				t.Fatal("run A's processes not found on the host")
			}
			var pids []string
			for pid := range victims {
				pids = append(pids, strconv.Itoa(pid))
			}
			// Run B knows run A's host pids (an attacker can guess them)
			// and its uid, and goes after them every way it can.
			attack := sh(fmt.Sprintf(`echo uid $(id -u)
for p in %s; do
  kill -0 $p 2>/dev/null && echo "signal $p reached"
  cat /proc/$p/environ >/dev/null 2>&1 && echo "read /proc/$p"
  ls /proc/$p/fd >/dev/null 2>&1 && echo "listed /proc/$p/fd"
done
for d in /proc/[0-9]*; do
  u=$(awk '/^Uid:/{print $2}' $d/status 2>/dev/null)
  [ "$u" = "%s" ] && [ "%s" != "$(id -u)" ] && echo "sees a process of run A: $d"
done
/usr/bin/python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for p in [%s]:
    if libc.ptrace(16, p, 0, 0) == 0: print("ptrace attached", p)
'
true`, strings.Join(pids, " "), uidA, uidA, strings.Join(pids, ",")))
			attack.Mounts = []agora.Mount{{Source: t.TempDir(), Target: "/agora", ReadOnly: true}}
			res, err := r.Run(context.Background(), attack)
			if err != nil {
				t.Fatal(err)
			}
			finish()
			out := string(res.Output)
			uidB := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[0], "uid"))
			if uidA == uidB {
				t.Errorf("runs A and B run concurrently as the same uid %s", uidA)
			}
			for pid, uid := range victims {
				if uid == uidB {
					t.Errorf("run A's process %d runs as run B's uid %s on the host", pid, uid)
				}
			}
			for _, bad := range []string{"reached", "read /proc", "listed", "sees a process", "ptrace attached"} {
				if strings.Contains(out, bad) {
					t.Errorf("run B got at run A: %s", out)
				}
			}
		})
	}
}
