package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"golang.org/x/sys/unix"
)

// testPoolSize is the pool the internal tests use.
const testPoolSize = 2

// mustInternalRuntime returns a runc runtime with a pool, on a private state
// directory.
func mustInternalRuntime(t *testing.T) *Runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandbox tests need root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("sandbox tests need runc (apt-get install runc)")
	}
	state := filepath.Join("/run/agora-test", strings.ReplaceAll(t.Name(), "/", "_"))
	r, err := New(Config{StateDir: state, PoolSize: testPoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		os.RemoveAll(state)
	})
	return r
}

// leftovers lists what runs left in the state directory and the cgroups.
func leftovers(r *Runtime) []string {
	var out []string
	for _, d := range []string{r.bundles, r.wsDir, r.ociRoot, r.poolDir} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			out = append(out, filepath.Join(d, e.Name()))
		}
	}
	for _, ctrl := range []string{"pids", "memory", "cpu"} {
		base := filepath.Join(cgroupMount(), ctrl, ownCgroup(ctrl))
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			// Only this process's: other test binaries run beside this one.
			if strings.HasPrefix(e.Name(), fmt.Sprintf("agora-%d-", os.Getpid())) || strings.HasPrefix(e.Name(), "agora-4194305-") {
				out = append(out, filepath.Join(base, e.Name()))
			}
		}
	}
	// Mounts anywhere under the state directory: workspaces, pooled roots
	// and whatever runs mounted under those.
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], r.state+"/") {
				out = append(out, "mount "+f[4])
			}
		}
	}
	return out
}

func TestCleanupAfterRuns(t *testing.T) {
	r := mustInternalRuntime(t)
	ctx := context.Background()
	lower := t.TempDir()
	ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}})
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"true", "exit 3", "sleep 30"} {
		spec := &agora.RunSpec{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/bin"},
			Mounts: []agora.Mount{{Source: ws.Root(), Target: "/repo"}},
			Limits: agora.Limits{Timeout: 300 * time.Millisecond}}
		if _, err := r.Run(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	// The pool refilled after the runs: Close is what removes its
	// containers.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(r); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}

func TestSweepRemovesDeadOwnersLeftovers(t *testing.T) {
	r := mustInternalRuntime(t)
	// A pid that cannot be alive: above the kernel's pid_max limit.
	dead := "agora-4194305-deadbeef"

	// A container that is still running, created as a crashed agora would
	// have left it.
	s, err := buildSpec(specInput{
		Run:    &agora.RunSpec{Args: []string{"/bin/sleep", "600"}, Env: []string{"PATH=/bin"}},
		Limits: agora.Limits{}.WithDefaults(), Rootfs: r.rootfs, HostDirs: r.hostDirs,
		UID: r.uid, GID: r.gid, CgroupsPath: dead, Swap: r.swap, Hostname: "sandbox",
	})
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(r.bundles, dead)
	os.MkdirAll(bundle, 0o700)
	data, _ := json.Marshal(s)
	os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
	// Detached, the container keeps the stdio it is given: /dev/null here,
	// or the test would wait on its pipe.
	cmd := exec.Command(r.bin, "--root", r.ociRoot, "run", "--detach", "--bundle", bundle, dead)
	if err := cmd.Run(); err != nil {
		t.Fatalf("runc run --detach: %v", err)
	}
	// A workspace with its tmpfs still mounted.
	wsDir := filepath.Join(r.wsDir, dead)
	os.MkdirAll(filepath.Join(wsDir, "rw"), 0o700)
	if err := unix.Mount("tmpfs", filepath.Join(wsDir, "rw"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	// A workspace of a live owner (this process) must survive.
	live, err := r.NewWorkspace(context.Background(), agora.WorkspaceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	if err := r.Sweep(); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for _, l := range leftovers(r) {
		if strings.Contains(l, dead) {
			t.Errorf("left behind: %s", l)
		}
	}
	if _, err := os.Stat(live.Root()); err != nil {
		t.Fatalf("live workspace swept: %v", err)
	}
	if out, _ := exec.Command(r.bin, "--root", r.ociRoot, "list", "-q").Output(); strings.Contains(string(out), dead) {
		t.Fatalf("container still listed: %s", out)
	}
}
