//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agoranet/agora"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runtime drives an OCI runtime CLI (runc or runsc). With runc it keeps a
// few containers started ahead of demand (pool_linux.go), which Close
// removes. It is safe for concurrent use.
type Runtime struct {
	kind     string
	bin      string
	state    string // StateDir
	ociRoot  string // the runtime's --root
	bundles  string
	wsDir    string
	rootfs   string // shared read-only root skeleton
	poolDir  string // roots of pooled containers
	hostDirs []string
	uid, gid uint32 // the disk ids (Config.UID, GID)
	ids      *ids   // the ids runs run as (Config.IDs)
	swap     bool
	log      *slog.Logger
	pool     *pool // nil: every run is cold

	wsMu       sync.Mutex
	workspaces map[string]*workspace // open, by directory
}

// New checks that the runtime is usable, prepares the state directory and
// sweeps what crashed runs left behind.
func New(cfg Config) (*Runtime, error) {
	r := &Runtime{kind: cfg.Runtime, state: cfg.StateDir, uid: cfg.UID, gid: cfg.GID, log: cfg.Logger}
	if r.kind == "" {
		r.kind = RuntimeRunc
	}
	if r.kind != RuntimeRunc && r.kind != RuntimeRunsc {
		return nil, agora.Errorf(agora.EINVALID, "sandbox: unknown runtime %q (want %s or %s)", r.kind, RuntimeRunc, RuntimeRunsc)
	}
	bin := cfg.Binary
	if bin == "" {
		bin = r.kind
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: %s not found on PATH (install it: apt-get install %s)", bin, r.kind)
	}
	r.bin = path
	if os.Geteuid() != 0 {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: %s sandboxes need root (namespaces, cgroups and overlay mounts)", r.kind)
	}
	if r.state == "" {
		r.state = DefaultStateDir
	}
	if r.uid == 0 {
		r.uid = DefaultUID
	}
	if r.gid == 0 {
		r.gid = DefaultGID
	}
	idr := cfg.IDs
	if idr == (IDRange{}) {
		idr = DefaultIDRange()
	}
	if err := idr.Validate(); err != nil {
		return nil, err
	}
	if idr.Contains(r.uid) || idr.Contains(r.gid) {
		return nil, agora.Errorf(agora.EINVALID, "sandbox: id range %s contains the disk uid/gid %d/%d", idr, r.uid, r.gid)
	}
	r.ids = newIDs(idr, r.uid, r.gid)
	r.workspaces = map[string]*workspace{}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "sandbox", "runtime", r.kind)
	r.ociRoot = filepath.Join(r.state, r.kind)
	r.bundles = filepath.Join(r.state, "bundles")
	r.wsDir = filepath.Join(r.state, "ws")
	r.rootfs = filepath.Join(r.state, "rootfs")
	r.poolDir = filepath.Join(r.state, "pool")
	for _, d := range []string{r.ociRoot, r.bundles, r.wsDir, r.poolDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: state directory: %v", err)
		}
	}
	hostDirs, err := buildRootSkeleton(r.rootfs, cfg.HostDirs)
	if err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: root skeleton: %v", err)
	}
	r.hostDirs = hostDirs
	_, err = os.Stat(filepath.Join(cgroupMount(), "memory", ownCgroup("memory"), "memory.memsw.limit_in_bytes"))
	r.swap = err == nil
	if err := r.Sweep(); err != nil {
		r.log.Warn("sweep failed", "err", err)
	}
	if r.kind == RuntimeRunc && cfg.PoolSize > 0 {
		if r.pool, err = newPool(r, cfg.PoolSize); err != nil {
			r.log.Warn("no container pool, runs go cold", "err", err)
		}
	}
	return r, nil
}

// Warm fills the container pool for runs with the default /tmp size and
// waits until it is full, so that the next runs skip starting runc. Runs
// fill the pool on their own; Warm is for callers that want the first runs
// fast, and for benchmarks that measure what a run costs when the pool keeps
// up. It returns nil at once when the runtime has no pool (runsc, or
// Config.PoolSize 0).
func (r *Runtime) Warm(ctx context.Context) error {
	if r.pool == nil {
		return nil
	}
	return r.pool.warm(ctx, agora.DefaultLimits().Tmp)
}

// Close destroys the pooled containers and waits for those being started.
// Runs still work afterwards, cold. It does not touch workspaces, which
// their owners close.
func (r *Runtime) Close() error {
	if r.pool != nil {
		r.pool.close()
	}
	return nil
}

// Kind reports the runtime: RuntimeRunc or RuntimeRunsc.
func (r *Runtime) Kind() string { return r.kind }

// buildRootSkeleton makes the directory used as every sandbox's read-only
// root: empty mount points, plus the host's top-level symlinks (bin -> usr/bin
// on merged-/usr systems) so paths resolve as on the host. It returns the
// host directories to bind into it.
func buildRootSkeleton(dir string, hostDirs []string) ([]string, error) {
	for _, d := range []string{"proc", "dev", "sys", "tmp", "repo", "env", "agora", "home", "run", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// runc gives a tmpfs the mode of the directory it is mounted on.
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if hostDirs != nil {
		for _, d := range hostDirs {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return nil, err
			}
		}
		return hostDirs, nil
	}
	var binds []string
	for _, name := range []string{"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"} {
		host := "/" + name
		fi, err := os.Lstat(host)
		if err != nil {
			continue
		}
		dst := filepath.Join(dir, name)
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(host)
			if err != nil {
				return nil, err
			}
			if cur, err := os.Readlink(dst); err == nil && cur == target {
				continue
			}
			os.Remove(dst)
			if err := os.Symlink(target, dst); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			continue
		}
		if !fi.IsDir() {
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, err
		}
		binds = append(binds, host)
	}
	return binds, nil
}

var nameRe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// newID names a run or workspace "<owner pid>-<random>[-name]". The owner
// pid lets Sweep tell a crashed owner's leftovers from a live one's.
func newID(name string) string {
	var b [6]byte
	rand.Read(b[:])
	id := fmt.Sprintf("agora-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
	if name = nameRe.ReplaceAllString(name, "_"); name != "" {
		if len(name) > 40 {
			name = name[:40]
		}
		id += "-" + name
	}
	return id
}

// ownerAlive reports whether the process that created id is still running.
func ownerAlive(id string) bool {
	rest, ok := strings.CutPrefix(id, "agora-")
	if !ok {
		return true // not ours: leave it alone
	}
	pidStr, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidStr)
	if err != nil {
		return true
	}
	if pid == os.Getpid() {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Run implements agora.Sandbox.
func (r *Runtime) Run(ctx context.Context, spec *agora.RunSpec) (*agora.RunResult, error) {
	lim := spec.Limits.WithDefaults()
	id := newID(spec.Name)
	rootfs := r.rootfs
	hostDirs := r.hostDirs
	if spec.Rootfs != "" {
		rootfs, hostDirs = spec.Rootfs, nil
		if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: rootfs %q is not a directory", rootfs)
		}
	}
	// The run's ids: its workspace's, or its own for the length of the run.
	var uid, gid uint32
	if w := r.workspaceOf(spec.Mounts); w != nil {
		uid, gid = w.uid, w.gid
		if w.held {
			defer r.ids.release(w.uid)
		}
	} else {
		u, err := r.ids.take(false)
		if err != nil {
			return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: %v", err)
		}
		defer r.ids.release(u)
		uid, gid = u, u
	}
	// Every run's spec is built, pooled or not: it is where a run is
	// checked, and a cold run needs it anyway.
	s, err := buildSpec(specInput{
		Run: spec, Limits: lim, Rootfs: rootfs, HostDirs: hostDirs,
		UID: uid, GID: gid, CgroupsPath: id, Swap: r.swap, Hostname: "sandbox",
	})
	if err != nil {
		return nil, err
	}
	if len(spec.Services) > 0 && r.kind != RuntimeRunc {
		// gVisor's netstack, not the host kernel, serves the run's
		// loopback: it would never see a listener the host opens.
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: services need runc, not %s", r.kind)
	}
	if r.pool != nil && r.pool.eligible(spec) {
		if w := r.pool.take(lim.Tmp); w != nil {
			res, ok, err := r.runWarm(ctx, w, s, spec, lim)
			r.pool.refill()
			if ok {
				return res, err
			}
			r.pool.fellBack()
		}
	}
	if len(spec.Services) > 0 {
		// Only cold runs have services (pool.eligible): the namespace
		// must exist before runc makes the container.
		sn, err := openServices(spec.Services)
		if err != nil {
			return nil, err
		}
		defer sn.close()
		joinNetwork(s, sn.path)
	}
	return r.runCold(ctx, id, s, spec, lim)
}

// runCold runs spec in a container of its own, started by `runc run`.
func (r *Runtime) runCold(ctx context.Context, id string, s *specs.Spec, spec *agora.RunSpec, lim agora.Limits) (*agora.RunResult, error) {
	if r.kind == RuntimeRunsc {
		// gVisor implements its own seccomp-free kernel; a seccomp
		// profile in the spec applies inside it and is not needed.
		s.Linux.Seccomp = nil
	}
	bundle := filepath.Join(r.bundles, id)
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: bundle: %v", err)
	}
	defer os.RemoveAll(bundle)
	cfg, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o600); err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: bundle: %v", err)
	}
	logPath := filepath.Join(bundle, "runtime.log")

	args := r.globalArgs(logPath)
	args = append(args, "run", "--bundle", bundle, id)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = bundle
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin = bytes.NewReader(spec.Stdin)
	out := newCapWriter(lim.Output)
	cmd.Stdout, cmd.Stderr = out, out
	var tail *fileTail
	if r.kind == RuntimeRunsc {
		// gVisor makes a donated stdout pipe or socket non-blocking and,
		// when it is full, hands EAGAIN to the sandboxed writer instead
		// of waiting: a chatty test would lose output and fail. A
		// regular file never fills, so runsc writes to one that is read
		// as it grows and freed behind the reader.
		ft, w, err := newFileTail(filepath.Join(bundle, "output"), out)
		if err != nil {
			return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: output file: %v", err)
		}
		defer w.Close()
		tail = ft
		cmd.Stdout, cmd.Stderr = w, w
	}
	// If this process dies, the runtime dies with it; Sweep removes the
	// container the next time a Runtime starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: start %s: %v", r.kind, err)
	}
	if tail != nil {
		cmd.Stdout.(*os.File).Close()
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	timedOut, canceled := r.await(ctx, id, cmd.Process.Pid, done, lim.Timeout)
	dur := time.Since(start)
	if tail != nil {
		tail.Finish()
	}
	// A foreground run deletes its container on exit; a runtime that was
	// killed or failed half-way leaves its state, and delete cleans it up.
	// Checking first saves a second runtime process on every normal run.
	if _, err := os.Stat(filepath.Join(r.ociRoot, id)); err == nil || timedOut || canceled {
		r.delete(id)
	}
	if canceled {
		return nil, ctx.Err()
	}
	return r.result(spec, id, logPath, out, waitErr, timedOut, dur)
}

// runWarm runs spec in a pooled container: it mounts the run's mounts under
// the container's root, sets its limits, hands the init the command and
// waits for runc as a cold run does. ok is false when the container could
// not take the run before the command started; the run then goes cold,
// which reports any error in its own words.
func (r *Runtime) runWarm(ctx context.Context, w *warm, s *specs.Spec, spec *agora.RunSpec, lim agora.Limits) (res *agora.RunResult, ok bool, err error) {
	defer r.releaseWarm(w)
	abandon := func(why error) (*agora.RunResult, bool, error) {
		r.log.Debug("pool: run goes cold", "id", w.id, "why", why)
		r.stopWarm(w)
		return nil, false, nil
	}
	for _, m := range spec.Mounts {
		if err := bindInto(m.Source, filepath.Join(w.rootfs, m.Target), m.ReadOnly); err != nil {
			return abandon(err)
		}
	}
	if err := r.setLimits(w, lim); err != nil {
		return abandon(err)
	}
	out := newCapWriter(lim.Output)
	copied := make(chan struct{})
	go func() {
		io.Copy(out, w.output)
		close(copied)
	}()

	start := time.Now()
	// What runc would have been given for a cold run.
	u := s.Process.User
	req, err := json.Marshal(initRequest{Args: s.Process.Args, Env: s.Process.Env, Dir: s.Process.Cwd, UID: u.UID, GID: u.GID})
	if err != nil {
		return abandon(err)
	}
	// runc gives a non-root process its stdio pipes (so that it may
	// reopen /dev/stdout); the init started as root, so the host does it,
	// through its own ends of the same pipes.
	for _, f := range []*os.File{w.stdin, w.output} {
		if err := unix.Fchown(int(f.Fd()), int(u.UID), int(u.GID)); err != nil {
			return abandon(err)
		}
	}
	if _, err := w.ctl.Write(req); err != nil {
		return abandon(err)
	}
	go func() {
		w.stdin.Write(spec.Stdin)
		w.stdin.Close()
	}()
	timedOut, canceled := r.await(ctx, w.id, w.cmd.Process.Pid, w.exited, lim.Timeout)
	dur := time.Since(start)
	<-copied
	if canceled {
		return nil, true, ctx.Err()
	}
	// runc and the container are gone, and with them every holder of the
	// init's end of the socket (runc keeps a copy: that is why the init says
	// it is about to exec rather than the host waiting for the socket to
	// close on exec). Anything but that one byte means the command never
	// started, so nothing ran in the sandbox, and a cold run reports the
	// failure as runc words it; unless the deadline came first, which is
	// the verdict either way.
	w.ctl.SetReadDeadline(time.Now().Add(time.Second))
	if msg, _ := io.ReadAll(w.ctl); string(msg) != string(initExecing) && !timedOut {
		r.log.Debug("pool: run goes cold", "id", w.id, "why", string(msg))
		return nil, false, nil
	}
	res, err = r.result(spec, w.id, w.logPath, out, w.waitErr, timedOut, dur)
	return res, true, err
}

// await waits for the runtime process to exit (done closed), killing the
// container at the deadline or when ctx ends.
func (r *Runtime) await(ctx context.Context, id string, pid int, done <-chan struct{}, timeout time.Duration) (timedOut, canceled bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return false, false
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		canceled = true
	}
	r.kill(id)
	// A container the runtime is still creating is not killed (runsc can
	// take over a second to boot on a loaded host, and says the container
	// is not running): kill again until the runtime exits.
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	giveUp := time.NewTimer(10 * time.Second)
	defer giveUp.Stop()
	for {
		select {
		case <-done:
			return timedOut, canceled
		case <-retry.C:
			r.kill(id)
		case <-giveUp.C:
			// The runtime did not exit after its container was killed:
			// take it down too, and let delete clean the rest.
			syscall.Kill(-pid, syscall.SIGKILL)
			<-done
			return timedOut, canceled
		}
	}
}

// result turns how the runtime exited into the run's result.
func (r *Runtime) result(spec *agora.RunSpec, id, logPath string, out *capWriter, waitErr error, timedOut bool, dur time.Duration) (*agora.RunResult, error) {
	res := &agora.RunResult{TimedOut: timedOut, Duration: dur}
	res.Output, res.Truncated, res.OutputBytes = out.Bytes()
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
		res.ExitCode = 0
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	default:
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: wait for %s: %v", r.kind, waitErr)
	}
	if !timedOut {
		if msg := runtimeError(logPath); msg != "" {
			// The runtime itself failed (bad mount, missing binary…):
			// that is not the command's verdict.
			if res.ExitCode != 0 && strings.Contains(msg, "exec") && strings.Contains(msg, "no such file") {
				return nil, agora.Errorf(agora.EINVALID, "sandbox: command %q not found in the sandbox", spec.Args[0])
			}
			if res.ExitCode != 0 {
				return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: %s failed: %s", r.kind, msg)
			}
		}
	}
	// A SIGKILL the deadline did not send is the memory cgroup's OOM
	// killer in practice: nothing else in the sandbox may send it.
	res.OOMKilled = !timedOut && res.ExitCode == 128+int(syscall.SIGKILL)
	r.log.Debug("run", "name", spec.Name, "id", id, "exit", res.ExitCode, "timeout", timedOut, "oom", res.OOMKilled,
		"output_bytes", res.OutputBytes, "ms", dur.Milliseconds())
	return res, nil
}

// globalArgs are the runtime flags that come before the subcommand.
func (r *Runtime) globalArgs(logPath string) []string {
	args := []string{"--root", r.ociRoot}
	if logPath != "" {
		args = append(args, "--log", logPath, "--log-format", "json")
	}
	if r.kind == RuntimeRunsc {
		// Loopback only: gVisor's netstack with no interface but lo.
		args = append(args, "--network=none")
	}
	return args
}

// runtimeError returns the first error the runtime logged, if any.
func runtimeError(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var e struct{ Level, Msg string }
		if json.Unmarshal(line, &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			return e.Msg
		}
	}
	return ""
}

func (r *Runtime) kill(id string) {
	exec.Command(r.bin, append(r.globalArgs(""), "kill", "--all", id, "KILL")...).Run()
}

func (r *Runtime) delete(id string) {
	exec.Command(r.bin, append(r.globalArgs(""), "delete", "--force", id)...).Run()
}

// Sweep removes containers, workspaces, bundles and cgroups whose owning
// process is gone. It leaves a live owner's runs alone, so several agora
// processes can share one state directory.
func (r *Runtime) Sweep() error {
	var errs []error
	entries, _ := os.ReadDir(r.ociRoot)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "agora-") && !ownerAlive(e.Name()) {
			r.kill(e.Name())
			r.delete(e.Name())
			r.log.Info("swept container", "id", e.Name())
		}
	}
	// Pooled containers' roots, after their containers: a root is a mount
	// of the skeleton and is unmounted, never emptied.
	entries, _ = os.ReadDir(r.poolDir)
	for _, e := range entries {
		if !ownerAlive(e.Name()) {
			if err := removePoolDir(filepath.Join(r.poolDir, e.Name())); err != nil {
				errs = append(errs, err)
			}
			r.log.Info("swept pooled container root", "id", e.Name())
		}
	}
	entries, _ = os.ReadDir(r.wsDir)
	for _, e := range entries {
		if !ownerAlive(e.Name()) {
			if err := removeWorkspaceDir(filepath.Join(r.wsDir, e.Name())); err != nil {
				errs = append(errs, err)
			}
			r.log.Info("swept workspace", "id", e.Name())
		}
	}
	entries, _ = os.ReadDir(r.bundles)
	for _, e := range entries {
		if !ownerAlive(e.Name()) {
			os.RemoveAll(filepath.Join(r.bundles, e.Name()))
		}
	}
	errs = append(errs, sweepCgroups())
	return errors.Join(errs...)
}
