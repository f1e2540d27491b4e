//go:build linux

package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

// mountsUnder lists the host's mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestPoolMountsStayPut checks the direction of mount propagation: a
// pooled container's own mounts (proc, dev, the host directories…) never
// reach the host, and a run's mounts are gone from the host when it ends.
func TestPoolMountsStayPut(t *testing.T) {
	r := mustInternalRuntime(t)
	ctx := context.Background()
	onlyRoots := func(when string) {
		t.Helper()
		for _, m := range mountsUnder(t, r.poolDir) {
			rel, _ := filepath.Rel(r.poolDir, m)
			if parts := strings.Split(rel, "/"); len(parts) != 2 || parts[1] != "rootfs" {
				t.Fatalf("%s: mount %s on the host", when, m)
			}
		}
	}
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(mountsUnder(t, r.poolDir)); n != testPoolSize {
		t.Fatalf("%d pooled roots, want %d", n, testPoolSize)
	}
	onlyRoots("warm")
	src := t.TempDir()
	res, err := r.Run(ctx, &agora.RunSpec{Args: []string{"/bin/ls", "/repo"}, Mounts: []agora.Mount{{Source: src, Target: "/repo"}}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v %+v", err, res)
	}
	if s := r.pool.statsNow(); s.Hits != 1 {
		t.Fatalf("stats %+v, want one hit", s)
	}
	onlyRoots("after a run")
}

// TestPoolCloseLeavesNothing checks that Close removes every pooled
// container: runc state, bundles, roots, mounts and cgroups.
func TestPoolCloseLeavesNothing(t *testing.T) {
	r := mustInternalRuntime(t)
	ctx := context.Background()
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if len(leftovers(r)) == 0 {
		t.Fatal("a warm pool shows no containers: leftovers sees nothing")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(r); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}

// TestPoolLimitsMatchCold checks that a pooled container's cgroups end up
// with the values runc gives a cold run with the same limits.
func TestPoolLimitsMatchCold(t *testing.T) {
	r := mustInternalRuntime(t)
	ctx := context.Background()
	lim := agora.Limits{Memory: 300 << 20, Pids: 77, CPUs: 0.5, Timeout: 20 * time.Second}
	files := []string{"memory/memory.limit_in_bytes", "pids/pids.max", "cpu/cpu.cfs_quota_us",
		"cpu/cpu.cfs_period_us", "cpu/cpu.shares", "devices/devices.list"}
	if r.swap {
		files = append(files, "memory/memory.memsw.limit_in_bytes")
	}
	read := func(paths map[string]string) map[string]string {
		got := map[string]string{}
		for _, f := range files {
			ctrl, name, _ := strings.Cut(f, "/")
			data, err := os.ReadFile(filepath.Join(paths[ctrl], name))
			if err != nil {
				t.Fatal(err)
			}
			got[f] = string(data)
		}
		return got
	}

	// Cold: read the cgroups of a run while it sleeps.
	r.pool.close() // no pooled containers in this runtime
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, &agora.RunSpec{Name: "cgcold", Args: []string{"/bin/sleep", "2"}, Limits: lim})
		done <- err
	}()
	var cold map[string]string
	for deadline := time.Now().Add(10 * time.Second); cold == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("cold container never showed up")
		}
		entries, _ := os.ReadDir(r.ociRoot)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), "-cgcold") {
				if paths, err := r.cgroupPaths(e.Name()); err == nil {
					cold = read(paths)
				}
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Pooled: a container started with the defaults, then given the limits.
	p, err := newPool(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	r.pool = p
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	w := p.take(agora.DefaultLimits().Tmp)
	if w == nil {
		t.Fatal("nothing pooled")
	}
	defer r.destroyWarm(w)
	before := read(w.cgroups)
	if err := r.setLimits(w, lim.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	pooled := read(w.cgroups)
	if before["memory/memory.limit_in_bytes"] == pooled["memory/memory.limit_in_bytes"] {
		t.Fatal("the pooled container started with the run's memory limit: nothing tested")
	}
	for _, f := range files {
		if pooled[f] != cold[f] {
			t.Errorf("%s: pooled %q, cold %q (before the limits: %q)", f, pooled[f], cold[f], before[f])
		}
	}
}

// TestSweepRemovesPooledLeftovers crashes an owner with a pooled container
// that was running a command with a mount, and checks that Sweep removes all
// of it.
func TestSweepRemovesPooledLeftovers(t *testing.T) {
	r := mustInternalRuntime(t)
	// A pid that cannot be alive: above the kernel's pid_max limit.
	dead := "agora-4194305-cafef00d-pool"
	w, err := r.startWarm(dead, agora.DefaultLimits().Tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer w.ctl.Close()
	if err := bindInto(t.TempDir(), filepath.Join(w.rootfs, "repo"), false); err != nil {
		t.Fatal(err)
	}
	// The owner dies: runc goes with it (parent-death signal), the
	// container stays, its init still waiting.
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL)
	<-w.exited
	if out, _ := exec.Command(r.bin, "--root", r.ociRoot, "list", "-q").Output(); !strings.Contains(string(out), dead) {
		t.Fatalf("container not left running: %s", out)
	}
	// A pooled container of a live owner (this process) must survive.
	if err := r.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	liveMounts := len(mountsUnder(t, r.poolDir)) - 2 // the dead root and its run's mount

	if err := r.Sweep(); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for _, l := range leftovers(r) {
		if strings.Contains(l, dead) {
			t.Errorf("left behind: %s", l)
		}
	}
	for _, m := range mountsUnder(t, r.poolDir) {
		if strings.Contains(m, dead) {
			t.Errorf("mount left behind: %s", m)
		}
	}
	if out, _ := exec.Command(r.bin, "--root", r.ociRoot, "list", "-q").Output(); strings.Contains(string(out), dead) {
		t.Fatalf("container still listed: %s", out)
	}
	if n := len(mountsUnder(t, r.poolDir)); n != liveMounts || n != testPoolSize {
		t.Fatalf("%d pooled roots of this process after the sweep, want %d", n, testPoolSize)
	}
	res, err := r.Run(context.Background(), &agora.RunSpec{Args: []string{"/bin/true"}})
	if err != nil || res.ExitCode != 0 || r.pool.statsNow().Hits != 1 {
		t.Fatalf("pooled run after the sweep: %v %+v %+v", err, res, r.pool.statsNow())
	}
}

// TestPoolTurnsOff checks that a pool whose containers cannot start gives
// up after a few tries, leaves nothing of them behind, and that runs still
// work, cold.
func TestPoolTurnsOff(t *testing.T) {
	r := mustInternalRuntime(t)
	ctx := context.Background()
	// Failing before runc starts: no root to bind.
	skeleton := r.rootfs
	r.rootfs = filepath.Join(t.TempDir(), "missing")
	if _, err := r.startWarm(newID("pool"), agora.DefaultLimits().Tmp); err == nil {
		t.Fatal("started a container without a root")
	}
	r.rootfs = skeleton
	if l := leftovers(r); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
	// Failing after: an init that exits at once instead of waiting.
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	r.pool.exe.Close()
	r.pool.exe = exe
	if err := r.Warm(ctx); agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("Warm: %v, want EUNAVAILABLE", err)
	}
	res, err := r.Run(ctx, &agora.RunSpec{Args: []string{"/bin/echo", "cold"}})
	if err != nil || string(res.Output) != "cold\n" {
		t.Fatalf("run: %v %+v", err, res)
	}
	if s := r.pool.statsNow(); s.Hits != 0 || s.Created != 0 {
		t.Fatalf("stats %+v", s)
	}
	r.Close()
	if l := leftovers(r); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}
